"""One parser per survey tool: authenticate a webhook delivery and turn it into `ResponseIn`s.

Every parser has the same shape::

    parse_<source>(body: bytes, headers: Mapping[str, str], *, settings, workspace, now) -> Parsed

and either returns a `Parsed` or raises an `IntakeError` whose `status` is the HTTP status to answer
(400 unreadable body, 401 bad or missing signature, 413 too large, 422 invalid fields) and whose
`as_dict()` is the JSON body to answer with. Nothing else escapes. The checks run in that order:
signature first (on the raw bytes), then the body, then the fields, so an unsigned request learns
nothing about what a valid body looks like.

Intake fails closed: a source answers 401 unless its secret is set and the signature checks out:
`CXLOOP_WEBHOOK_SECRET` (generic), `CXLOOP_DELIGHTED_SECRET` (the Delighted project's API key),
`CXLOOP_TYPEFORM_SECRET` (the webhook's secret), `CXLOOP_FORMBRICKS_SECRET` (the webhook's
`whsec_...` signing secret). `CXLOOP_ALLOW_UNSIGNED_WEBHOOKS=1` lets a source without its secret
take unsigned deliveries, for local traffic only (the demo, a sandbox); even then a Delighted
`survey_response.updated`, which rewrites a stored comment, must be signed.

Which events are stored (anything else comes back as `Parsed.ignored`, not as an error):

- generic: every delivery (one JSON object, the shape in DESIGN.md).
- delighted: `survey_response.created`, and `survey_response.updated` with `update_existing=True`
  (Delighted sends the comment in the update; it belongs to the response already stored, and must
  never open a second case). `unsubscribe.created` and unknown events are ignored.
- typeform: `form_response`. `form_response_partial` (partial responses) and other events are
  ignored: a typeform is stored once it is submitted.
- formbricks: any event (`responseCreated`, `responseUpdated`, `responseFinished`) whose response
  is `finished`. Unfinished responses are ignored: Formbricks sends `responseFinished` once the
  respondent completes the survey (and a one-page survey is finished at `responseCreated`), so
  nothing is lost and no half-answered response opens a case. The same response arriving under
  two events is one response (the store is idempotent on source and external id).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from bot.config import FormbricksSurvey, Settings, TypeformForm, Workspace
from bot.intake.surveys import (
    SCORE_RANGE,
    FieldProblem,
    InvalidResponse,
    ResponseIn,
    SurveyKind,
    build_response,
    json_type,
    parse_instant,
)
from handlers.intake import signing
from handlers.intake.signing import SignatureError, header

MAX_BODY = 1024 * 1024
"""The largest body accepted (1 MiB); the route answers 413 above it without reading further."""

MAX_DEPTH = 64
"""JSON nested deeper than this is refused (400); no survey tool comes close."""

MAX_EVENT_ID = 200  # the width of processed_event.event_id

GENERIC = "generic"
DELIGHTED = "delighted"
TYPEFORM = "typeform"
FORMBRICKS = "formbricks"
SOURCES = (GENERIC, DELIGHTED, TYPEFORM, FORMBRICKS)


# ----------------------------------------------------------------------------------------------
# outcomes


class IntakeError(Exception):
    """A delivery that is refused; `status` is the HTTP status to answer with."""

    status: int = 400

    def __init__(self, message: str, problems: list[FieldProblem] | None = None):
        super().__init__(message)
        self.message = message
        self.problems: list[FieldProblem] = list(problems or [])

    def as_dict(self) -> dict[str, Any]:
        """The JSON body to answer with: `{"error": ..., "problems": [{"field", "problem"}, ...]}`."""
        out: dict[str, Any] = {"error": self.message}
        if self.problems:
            out["problems"] = [p.model_dump() for p in self.problems]
        return out


class BadRequest(IntakeError):
    """400: the body cannot be read (not UTF-8, not JSON, wrong top-level type)."""

    status = 400


class Unauthorized(IntakeError):
    """401: the signature is missing, malformed, stale or wrong."""

    status = 401


class UnknownSource(IntakeError):
    """404: no parser for `/webhooks/{source}`."""

    status = 404


class PayloadTooLarge(IntakeError):
    """413: the body is over MAX_BODY."""

    status = 413


class InvalidFields(IntakeError):
    """422: the body was read but fields are missing or wrong; `problems` names each by its path."""

    status = 422


@dataclass(frozen=True)
class Parsed:
    """What an accepted delivery asks for.

    - `responses`: the responses to store (one per delivery from every tool today); empty when
      `ignored` says why nothing is to be stored.
    - `event_id`: the tool's id for this delivery, for idempotency (Delighted's `event_id`,
      Typeform's `event_id`, Standard Webhooks' `webhook-id` header); None for the generic webhook,
      whose responses are idempotent on their own `id`. Key it with `source`: ids are only unique
      within one tool. Over-long ids are replaced by `sha256:<hex>` so they fit the column.
    - `update_existing`: True for Delighted's `survey_response.updated`: set the comment on the
      response already stored under (source, external_id) and never open a second case; store it as
      new only if the first event never arrived.
    """

    source: str
    responses: list[ResponseIn] = field(default_factory=list)
    event_id: str | None = None
    event_type: str | None = None
    update_existing: bool = False
    ignored: str | None = None

    @property
    def is_ignored(self) -> bool:
        return self.ignored is not None


Parser = Callable[..., Parsed]


# ----------------------------------------------------------------------------------------------
# reading the body


def _walk_check(data: Any) -> None:
    """Refuse text that cannot be stored (lone surrogates, NUL) and absurd nesting, iteratively."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BadRequest(f"body is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, dict):
            for k, v in node.items():
                _check_text(k)
                if isinstance(v, (dict, list)):
                    stack.append((v, depth + 1))
                elif isinstance(v, str):
                    _check_text(v)
        elif isinstance(node, list):
            for v in node:
                if isinstance(v, (dict, list)):
                    stack.append((v, depth + 1))
                elif isinstance(v, str):
                    _check_text(v)
        elif isinstance(node, str):
            _check_text(node)


def _check_text(s: str) -> None:
    if "\x00" in s:
        raise BadRequest("body contains a NUL character (\\u0000), which cannot be stored")
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("body contains an invalid \\u escape (a lone UTF-16 surrogate)") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_json(body: bytes) -> Any:
    """The JSON value of a request body, or BadRequest / PayloadTooLarge saying what is wrong."""
    if isinstance(body, (bytearray, memoryview)):
        body = bytes(body)
    if not isinstance(body, bytes):
        raise BadRequest("body must be bytes")
    if len(body) > MAX_BODY:
        raise PayloadTooLarge(f"body is over {MAX_BODY // (1024 * 1024)} MiB")
    if not body.strip():
        raise BadRequest("body is empty; expected JSON")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"body is not UTF-8 text (invalid byte at offset {exc.start})") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise BadRequest(f"body is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # JSONDecodeError, and int strings over Python's digit limit
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    _walk_check(data)
    return data


def _object_body(body: bytes, what: str) -> dict[str, Any]:
    data = decode_json(body)
    if not isinstance(data, dict):
        raise BadRequest(f"body must be a JSON object ({what}), not {_json_type(data)}")
    return data


def _json_type(v: Any) -> str:
    if isinstance(v, list):
        return f"an array of {len(v)}" if v else "an empty array"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if v is None:
        return "null"
    return "an object"


# ----------------------------------------------------------------------------------------------
# shared field helpers


class _Fields:
    """Collects the ResponseIn fields of one delivery with the payload path each came from."""

    def __init__(self, source: str, raw: Any, now: datetime):
        self.data: dict[str, Any] = {"source": source, "raw": raw}
        self.paths: dict[str, str] = {}
        self.problems: list[FieldProblem] = []
        self.now = _now(now)

    def put(self, name: str, value: Any, path: str) -> None:
        """Set a field (None leaves it unset, so a required one reports 'is required' at `path`)."""
        self.paths[name] = path
        if value is not None:
            self.data[name] = value
        else:
            self.data.pop(name, None)

    def problem(self, path: str, message: str) -> None:
        self.problems.append(FieldProblem(field=path, problem=message))

    def instant(self, value: Any, path: str) -> None:
        """responded_at from an ISO-8601 string or Unix seconds, inside the accepted window (see
        bot/intake/surveys.py EARLIEST and AHEAD); absent means now, the time of receipt."""
        self.paths["responded_at"] = path
        if value is None or (isinstance(value, str) and not value.strip()):
            self.data["responded_at"] = self.now
            return
        try:
            self.data["responded_at"] = parse_instant(value, self.now)
        except ValueError as exc:
            self.problem(path, str(exc))
            self.data["responded_at"] = self.now  # a stand-in, so the model reports nothing twice

    def build(self) -> ResponseIn:
        problems = list(self.problems)
        response: ResponseIn | None = None
        try:
            response = build_response(self.data, self.paths, now=self.now)
        except InvalidResponse as exc:
            problems.extend(exc.problems)
        except (ArithmeticError, OSError, TypeError, ValueError) as exc:
            # A validator failed in a way pydantic does not wrap; still the sender's data.
            problems.append(FieldProblem(field="(payload)", problem=f"cannot be read: {exc}"))
        if problems or response is None:
            # The model checks the score's range only once every field is valid; name it anyway.
            range_problem = self._score_range_problem()
            score_path = self.paths.get("score", "score")
            if range_problem and not any(p.field == score_path for p in problems):
                problems.append(FieldProblem(field=score_path, problem=range_problem))
            raise InvalidFields("invalid fields", _unique(problems))
        return response

    def _score_range_problem(self) -> str | None:
        try:
            kind = SurveyKind(self.data.get("survey"))
        except ValueError:
            return None
        score = self.data.get("score")
        if isinstance(score, bool):
            return None
        if isinstance(score, float) and math.isfinite(score) and score.is_integer():
            score = int(score)
        elif isinstance(score, str) and score.strip().lstrip("-").isdigit() and len(score) < 20:
            score = int(score.strip())
        if not isinstance(score, int):
            return None
        lo, hi = SCORE_RANGE[kind]
        return None if lo <= score <= hi else f"score {score} is outside {lo}-{hi} for {kind.value}"


def _unique(problems: list[FieldProblem]) -> list[FieldProblem]:
    seen: set[tuple[str, str]] = set()
    out = []
    for p in problems:
        if (p.field, p.problem) not in seen:
            seen.add((p.field, p.problem))
            out.append(p)
    return out


def _event_id(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > MAX_EVENT_ID:
        return "sha256:" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()
    return value


def _secret(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _now(now: datetime) -> datetime:
    return now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)


SECRET_SETTINGS = {
    GENERIC: "cxloop_webhook_secret",
    DELIGHTED: "cxloop_delighted_secret",
    TYPEFORM: "cxloop_typeform_secret",
    FORMBRICKS: "cxloop_formbricks_secret",
}
"""Each source's secret, as the Settings field (the environment variable is its upper-case name)."""

ALLOW_UNSIGNED_ENV = "CXLOOP_ALLOW_UNSIGNED_WEBHOOKS"


def secret_for(source: str, settings: Settings) -> str | None:
    """The source's configured secret, or None when it is unset or blank."""
    return _secret(getattr(settings, SECRET_SETTINGS[source]))


def _authenticate(source: str, settings: Settings, check: Callable[[str], None]) -> bool:
    """Check the source's signature with `check(secret)`; True when the delivery is signed.

    Without the secret the delivery is refused, naming why, unless unsigned webhooks are allowed
    (then False: the caller stores it unsigned).
    """
    secret = secret_for(source, settings)
    if secret is None:
        if settings.cxloop_allow_unsigned_webhooks:
            return False
        raise Unauthorized(f"{source} webhooks are refused: {SECRET_SETTINGS[source].upper()} is not set, so no "
                           f"signature can be checked (set it; {ALLOW_UNSIGNED_ENV}=1 accepts unsigned deliveries, "
                           f"for local testing only)")
    try:
        check(secret)
    except SignatureError as exc:
        raise Unauthorized(f"bad or missing signature: {exc}") from None
    return True


def _kind(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _norm_key(key: str) -> str:
    return re.sub(r"[\s\-]+", "_", key.strip().lower())


# ----------------------------------------------------------------------------------------------
# generic


def parse_generic(body: bytes, headers: Mapping[str, str], *, settings: Settings, workspace: Workspace,
                  now: datetime) -> Parsed:
    """cxloop's own shape (DESIGN.md):

    `{"id", "survey", "score", "comment", "customer": {"id", "name", "email"}, "touchpoint",
    "responded_at"}`, signed with `X-Cxloop-Signature` keyed with CXLOOP_WEBHOOK_SECRET. The flat
    `customer_id`, `customer_name` and `customer_email` of the CSV import are accepted too.
    `responded_at` (ISO-8601, or Unix seconds) defaults to the time of receipt. Other keys are
    kept in `raw` and otherwise ignored. The rules every source shares are ResponseIn's
    (bot/intake/surveys.py): text fields must be JSON strings, and the answer time must lie in the accepted
    window (2000-01-01 to a day after `now`).
    """
    _authenticate(GENERIC, settings,
                  lambda secret: signing.verify_generic(body, header(headers, signing.GENERIC_HEADER), secret))
    payload = _object_body(body, "one survey response")
    f = _Fields(GENERIC, payload, now)
    f.put("external_id", payload.get("id"), "id")
    f.put("survey", _kind(payload.get("survey")), "survey")
    f.put("score", payload.get("score"), "score")
    f.put("comment", payload.get("comment"), "comment")
    customer = payload.get("customer")
    if customer is not None and not isinstance(customer, dict):
        f.problem("customer", "must be an object with id, name and email")
        customer = None
    customer = customer or {}
    for attr in ("id", "name", "email"):
        if customer.get(attr) is not None:
            f.put(f"customer_{attr}", customer.get(attr), f"customer.{attr}")
        else:
            f.put(f"customer_{attr}", payload.get(f"customer_{attr}"),
                  f"customer_{attr}" if f"customer_{attr}" in payload else f"customer.{attr}")
    f.put("touchpoint", payload.get("touchpoint"), "touchpoint")
    f.instant(payload.get("responded_at"), "responded_at")
    return Parsed(source=GENERIC, responses=[f.build()])


# ----------------------------------------------------------------------------------------------
# Delighted

DELIGHTED_CREATED = "survey_response.created"
DELIGHTED_UPDATED = "survey_response.updated"
_DELIGHTED_KINDS = {"nps": SurveyKind.NPS, "csat": SurveyKind.CSAT, "ces": SurveyKind.CES}


def parse_delighted(body: bytes, headers: Mapping[str, str], *, settings: Settings, workspace: Workspace,
                    now: datetime) -> Parsed:
    """A Delighted webhook (delighted.com/docs/api/webhooks)::

        {"event_type": "survey_response.created" | "survey_response.updated" | "unsubscribe.created",
         "event_id": "<hex>",
         "event_data": {"id": "5435", "person": {"id", "email", "name", "created_at"},
                        "survey_type": "nps", "score": 9, "comment": "...", "created_at": <unix>,
                        "updated_at": <unix>, "person_properties": {...} | null, ...}}

    Signed with `X-Delighted-Webhook-Signature: sha256=<hex>` keyed with the project's API key
    (CXLOOP_DELIGHTED_SECRET). `survey_type` nps, csat and ces are taken (absent means nps, the
    only kind older payloads carry); other Delighted types (eNPS, PMF, 5-star, smileys, thumbs) are
    refused with 422 naming `event_data.survey_type`. The customer id is the person property
    "Customer ID" (any case, space or underscore) when present, else Delighted's person id; the
    touchpoint is the person property "Touchpoint" when present, else
    `sources.delighted_touchpoint`.
    """
    signed = _authenticate(
        DELIGHTED, settings, lambda secret: signing.verify_delighted(body, header(headers, signing.DELIGHTED_HEADER),
                                                                     secret))
    payload = _object_body(body, "a Delighted event")
    event_id = _event_id(payload.get("event_id"))
    event_type = payload.get("event_type")
    if not isinstance(event_type, str) or not event_type.strip():
        raise InvalidFields("invalid fields", [FieldProblem(field="event_type", problem="is required")])
    if event_type not in (DELIGHTED_CREATED, DELIGHTED_UPDATED):
        return Parsed(source=DELIGHTED, event_id=event_id, event_type=event_type,
                      ignored=f"Delighted event {event_type!r} carries no survey response to store")
    if event_type == DELIGHTED_UPDATED and not signed:
        # Response ids are sequential: an unsigned update could rewrite anyone's stored comment.
        raise Unauthorized(f"Delighted {DELIGHTED_UPDATED} rewrites a stored comment and is accepted only signed "
                           f"(set CXLOOP_DELIGHTED_SECRET), even with {ALLOW_UNSIGNED_ENV}=1")
    ed = payload.get("event_data")
    if not isinstance(ed, dict):
        problem = "is required" if ed is None else "must be an object"
        raise InvalidFields("invalid fields", [FieldProblem(field="event_data", problem=problem)])

    f = _Fields(DELIGHTED, payload, now)
    survey_type = _kind(ed.get("survey_type"))
    if survey_type is None:
        survey_type = "nps"
    if not isinstance(survey_type, str) or survey_type not in _DELIGHTED_KINDS:
        shown = repr(survey_type) if isinstance(survey_type, str) else _json_type(survey_type)
        f.problem("event_data.survey_type",
                  f"Delighted survey type {shown} is not supported (cxloop takes nps, csat and ces)")
        raise InvalidFields("invalid fields", f.problems)
    f.put("survey", _DELIGHTED_KINDS[survey_type].value, "event_data.survey_type")
    f.put("external_id", ed.get("id"), "event_data.id")
    f.put("score", ed.get("score"), "event_data.score")
    f.put("comment", ed.get("comment"), "event_data.comment")

    person = ed.get("person")
    if person is not None and not isinstance(person, dict):
        f.problem("event_data.person", "must be an object")
        person = None
    person = person or {}
    props = ed.get("person_properties")
    if props is not None and not isinstance(props, dict):
        f.problem("event_data.person_properties", "must be an object")
        props = None
    by_norm = {_norm_key(k): k for k in (props or {})}

    cid_key = by_norm.get("customer_id")
    if cid_key is not None and (props or {}).get(cid_key) not in (None, ""):
        f.put("customer_id", props[cid_key], f"event_data.person_properties.{cid_key}")
    else:
        f.put("customer_id", person.get("id"), "event_data.person.id")
    f.put("customer_name", person.get("name"), "event_data.person.name")
    f.put("customer_email", person.get("email"), "event_data.person.email")

    tp_key = by_norm.get("touchpoint")
    if tp_key is not None and (props or {}).get(tp_key) not in (None, ""):
        f.put("touchpoint", props[tp_key], f"event_data.person_properties.{tp_key}")
    else:
        f.put("touchpoint", workspace.sources.delighted_touchpoint, "sources.delighted_touchpoint")
    f.instant(ed.get("created_at"), "event_data.created_at")
    return Parsed(source=DELIGHTED, responses=[f.build()], event_id=event_id, event_type=event_type,
                  update_existing=event_type == DELIGHTED_UPDATED)


# ----------------------------------------------------------------------------------------------
# Typeform

TYPEFORM_RESPONSE = "form_response"
TYPEFORM_PARTIAL = "form_response_partial"


def _typeform_value(answer: dict[str, Any]) -> Any:
    """An answer's value: Typeform puts it under the key its `type` names (number, text, email...)."""
    kind = answer.get("type")
    if not isinstance(kind, str) or kind not in answer:
        return None
    value = answer[kind]
    if kind == "choice" and isinstance(value, dict):
        return value.get("label") if value.get("label") is not None else value.get("other")
    if kind == "choices" and isinstance(value, dict):
        labels = [x for x in value.get("labels") or [] if isinstance(x, str)]
        if isinstance(value.get("other"), str):
            labels.append(value["other"])
        return ", ".join(labels) if labels else None
    return value


class _TypeformAnswers:
    def __init__(self, fr: dict[str, Any], f: _Fields, prefix: str):
        answers = fr.get("answers")
        if answers is None:
            answers = []
        elif not isinstance(answers, list):
            f.problem(f"{prefix}answers", "must be a list")
            answers = []
        hidden = fr.get("hidden")
        if hidden is None:
            hidden = {}
        elif not isinstance(hidden, dict):
            f.problem(f"{prefix}hidden", "must be an object")
            hidden = {}
        self.answers = [a for a in answers if isinstance(a, dict)]
        self.hidden = hidden
        self.prefix = prefix

    def answer(self, key: str) -> tuple[Any, str]:
        path = f"{self.prefix}answers[field={key}]"
        for a in self.answers:
            fld = a.get("field")
            if isinstance(fld, dict) and key in (fld.get("ref"), fld.get("id")):
                return _typeform_value(a), path
        return None, path

    def lookup(self, key: str) -> tuple[Any, str]:
        """An answer by field ref or id, else a hidden field of that name."""
        value, path = self.answer(key)
        if value is None and key in self.hidden:
            return self.hidden[key], f"{self.prefix}hidden.{key}"
        return value, path


def parse_typeform(body: bytes, headers: Mapping[str, str], *, settings: Settings, workspace: Workspace,
                   now: datetime) -> Parsed:
    """A Typeform webhook (typeform.com/developers/webhooks/example-payload)::

        {"event_id": "LtWXD3crgy", "event_type": "form_response",
         "form_response": {"form_id": "lT4Z3j", "token": "<response id>", "submitted_at": "...Z",
                           "hidden": {...}, "definition": {...},
                           "answers": [{"type": "number", "number": 9,
                                        "field": {"id": "...", "type": "nps", "ref": "nps_score"}},
                                       {"type": "text", "text": "...", "field": {...}}, ...]}}

    Signed with `Typeform-Signature: sha256=<base64>` (CXLOOP_TYPEFORM_SECRET). Which answer is the
    score, the comment, the email, the name and the customer id is configured per form in
    `sources.typeform_forms[form_id]`, by field ref or id (name, email and customer id may also name
    a hidden field); the touchpoint is the hidden field `touchpoint_hidden` when set and present,
    else the form's fixed `touchpoint`. An unconfigured form is 422 naming `form_response.form_id`.
    """
    _authenticate(TYPEFORM, settings,
                  lambda secret: signing.verify_typeform(body, header(headers, signing.TYPEFORM_HEADER), secret))
    payload = _object_body(body, "a Typeform event")
    event_id = _event_id(payload.get("event_id"))
    event_type = payload.get("event_type")
    if event_type is None and "form_response" in payload:
        event_type = TYPEFORM_RESPONSE
    if isinstance(event_type, str) and event_type != TYPEFORM_RESPONSE:
        reason = ("a partial response; cxloop stores a typeform once it is submitted"
                  if event_type == TYPEFORM_PARTIAL else f"Typeform event {event_type!r} carries no submitted response")
        return Parsed(source=TYPEFORM, event_id=event_id, event_type=event_type, ignored=reason)
    if event_type is None:
        raise InvalidFields("invalid fields", [FieldProblem(field="event_type", problem="is required")])
    if not isinstance(event_type, str):
        raise InvalidFields("invalid fields", [FieldProblem(field="event_type", problem="must be text")])

    fr = payload.get("form_response")
    if not isinstance(fr, dict):
        problem = "is required" if fr is None else "must be an object"
        raise InvalidFields("invalid fields", [FieldProblem(field="form_response", problem=problem)])
    form_id = fr.get("form_id")
    if not isinstance(form_id, str) or not form_id.strip():
        problem = "is required" if form_id in (None, "") else "must be text"
        raise InvalidFields("invalid fields", [FieldProblem(field="form_response.form_id", problem=problem)])
    form: TypeformForm | None = workspace.sources.typeform_forms.get(form_id)
    if form is None:
        raise InvalidFields("invalid fields", [FieldProblem(
            field="form_response.form_id",
            problem=f"form {form_id!r} is not configured (add it under sources.typeform_forms)")])

    f = _Fields(TYPEFORM, payload, now)
    answers = _TypeformAnswers(fr, f, "form_response.")
    f.put("survey", form.survey.value, "form_response.form_id")
    f.put("external_id", fr.get("token"), "form_response.token")
    value, path = answers.answer(form.score_field)
    f.put("score", value, path)
    for attr, key in (("comment", form.comment_field), ("customer_email", form.email_field),
                      ("customer_name", form.name_field), ("customer_id", form.customer_id_field)):
        if key:
            value, path = answers.lookup(key)
            f.put(attr, value, path)
    touchpoint, tp_path = form.touchpoint, "sources.typeform_forms.touchpoint"
    if form.touchpoint_hidden and answers.hidden.get(form.touchpoint_hidden) not in (None, ""):
        touchpoint = answers.hidden[form.touchpoint_hidden]
        tp_path = f"form_response.hidden.{form.touchpoint_hidden}"
    f.put("touchpoint", touchpoint, tp_path)
    f.instant(fr.get("submitted_at"), "form_response.submitted_at")
    return Parsed(source=TYPEFORM, responses=[f.build()], event_id=event_id, event_type=event_type)


# ----------------------------------------------------------------------------------------------
# Formbricks

FORMBRICKS_EVENTS = ("responseCreated", "responseUpdated", "responseFinished")


def parse_formbricks(body: bytes, headers: Mapping[str, str], *, settings: Settings, workspace: Workspace,
                     now: datetime) -> Parsed:
    """A Formbricks webhook (Formbricks docs/platform/features/integrations/webhooks.mdx)::

        {"webhookId": "...", "event": "responseFinished",
         "data": {"id": "<response id>", "surveyId": "...", "finished": true,
                  "createdAt": "2025-07-24T07:47:29.507Z", "updatedAt": "...",
                  "data": {"<question id>": 3, "<question id>": "text", "<hidden field id>": "..."},
                  "contact": {"id": "...", "userId": "..."} | null,
                  "contactAttributes": {"email": "...", "firstName": "...", ...} | null,
                  "meta": {...}, "survey": {"title": ...}, ...}}

    The object, or an array holding exactly one such object (as some relays forward it); any other
    array is 400. Signed the Standard Webhooks way (CXLOOP_FORMBRICKS_SECRET, `whsec_...`), with a
    5-minute tolerance on `webhook-timestamp`; `webhook-id` is the event id. Which answer is the
    score and which the comment is configured per survey in `sources.formbricks_surveys[surveyId]`
    (question ids; `email_field`, `customer_id_field` and `touchpoint_field` name a question or
    hidden field); otherwise the email, customer id and name come from the contact and its
    attributes (`email`, `userId`, `firstName`, `lastName`). An unconfigured survey is 422 naming
    `data.surveyId`.
    """
    now = _now(now)
    _authenticate(FORMBRICKS, settings, lambda secret: signing.verify_standard_webhook(body, headers, secret, now=now))
    event_id = _event_id(header(headers, signing.WEBHOOK_ID_HEADER))
    payload = decode_json(body)
    prefix = ""
    event_obj = payload
    if isinstance(payload, list):
        if len(payload) != 1:
            raise BadRequest(f"body must be one Formbricks event (an object, or an array holding exactly one), "
                             f"not {_json_type(payload)}")
        event_obj, prefix = payload[0], "[0]."
    if not isinstance(event_obj, dict):
        raise BadRequest(f"body must be a Formbricks event object, not {_json_type(event_obj)}")

    event = event_obj.get("event")
    if not isinstance(event, str) or not event.strip():
        problem = "is required" if event in (None, "") else "must be text"
        raise InvalidFields("invalid fields", [FieldProblem(field=f"{prefix}event", problem=problem)])
    if event not in FORMBRICKS_EVENTS:
        return Parsed(source=FORMBRICKS, event_id=event_id, event_type=event,
                      ignored=f"Formbricks event {event!r} carries no survey response")
    resp = event_obj.get("data")
    if not isinstance(resp, dict):
        problem = "is required" if resp is None else "must be an object"
        raise InvalidFields("invalid fields", [FieldProblem(field=f"{prefix}data", problem=problem)])
    if resp.get("finished") is not True:
        return Parsed(source=FORMBRICKS, event_id=event_id, event_type=event,
                      ignored=f"Formbricks {event} for an unfinished response; it is stored once finished")
    survey_id = resp.get("surveyId")
    if not isinstance(survey_id, str) or not survey_id.strip():
        problem = "is required" if survey_id in (None, "") else "must be text"
        raise InvalidFields("invalid fields", [FieldProblem(field=f"{prefix}data.surveyId", problem=problem)])
    survey: FormbricksSurvey | None = workspace.sources.formbricks_surveys.get(survey_id)
    if survey is None:
        raise InvalidFields("invalid fields", [FieldProblem(
            field=f"{prefix}data.surveyId",
            problem=f"survey {survey_id!r} is not configured (add it under sources.formbricks_surveys)")])

    f = _Fields(FORMBRICKS, payload, now)
    p = f"{prefix}data."
    answers = resp.get("data")
    if answers is None:
        answers = {}
    elif not isinstance(answers, dict):
        f.problem(f"{p}data", "must be an object")
        answers = {}
    contact = resp.get("contact")
    if contact is not None and not isinstance(contact, dict):
        f.problem(f"{p}contact", "must be an object")
        contact = None
    contact = contact or {}
    attrs = resp.get("contactAttributes")
    if attrs is not None and not isinstance(attrs, dict):
        f.problem(f"{p}contactAttributes", "must be an object")
        attrs = None
    attrs = attrs or {}

    def answer(key: str) -> tuple[Any, str]:
        return answers.get(key), f"{p}data.{key}"

    f.put("survey", survey.survey.value, f"{p}surveyId")
    f.put("external_id", resp.get("id"), f"{p}id")
    f.put("score", *answer(survey.score_question))
    if survey.comment_question:
        f.put("comment", *answer(survey.comment_question))

    def first(*candidates: tuple[Any, str]) -> tuple[Any, str]:
        for value, path in candidates:
            if value not in (None, ""):
                return value, path
        return None, candidates[-1][1]

    f.put("customer_id", *first(
        answer(survey.customer_id_field) if survey.customer_id_field else (None, ""),
        (contact.get("userId"), f"{p}contact.userId"),
        (attrs.get("userId"), f"{p}contactAttributes.userId"),
        (contact.get("id"), f"{p}contact.id")))
    f.put("customer_email", *first(
        answer(survey.email_field) if survey.email_field else (None, ""),
        (attrs.get("email"), f"{p}contactAttributes.email")))
    names = []
    for k in ("firstName", "lastName"):
        part = attrs.get(k)
        if part is not None and not isinstance(part, str):
            f.problem(f"{p}contactAttributes.{k}", f"must be text (a JSON string), not {json_type(part)}")
        elif part and part.strip():
            names.append(part.strip())
    name = " ".join(names) or None
    f.put("customer_name", name, f"{p}contactAttributes.firstName")
    f.put("touchpoint", *first(
        answer(survey.touchpoint_field) if survey.touchpoint_field else (None, ""),
        (survey.touchpoint, "sources.formbricks_surveys.touchpoint")))
    f.instant(resp.get("createdAt"), f"{p}createdAt")
    return Parsed(source=FORMBRICKS, responses=[f.build()], event_id=event_id, event_type=event)


# ----------------------------------------------------------------------------------------------
# dispatch

PARSERS: dict[str, Parser] = {
    GENERIC: parse_generic,
    DELIGHTED: parse_delighted,
    TYPEFORM: parse_typeform,
    FORMBRICKS: parse_formbricks,
}


def parse_webhook(source: str, body: bytes, headers: Mapping[str, str], *, settings: Settings,
                  workspace: Workspace, now: datetime) -> Parsed:
    """Dispatch `POST /webhooks/{source}` to its parser; an unknown source is UnknownSource (404)."""
    parser = PARSERS.get(source)
    if parser is None:
        raise UnknownSource(f"no webhook source {source!r} (known: {', '.join(SOURCES)})")
    return parser(body, headers, settings=settings, workspace=workspace, now=now)
