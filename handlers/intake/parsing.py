"""What every survey tool's parser shares: the outcome (`Parsed` or an `IntakeError` carrying the HTTP
status), reading the body (bounded, JSON only, nested at most MAX_DEPTH), checking fields and naming
each problem, and authenticating (fail closed: a source without its secret answers 401)."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from bot.config import Settings
from bot.intake.surveys import (
    SCORE_RANGE,
    FieldProblem,
    InvalidResponse,
    ResponseIn,
    SurveyKind,
    build_response,
    parse_instant,
)
from handlers.intake.signing import SignatureError

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


def object_body(body: bytes, what: str) -> dict[str, Any]:
    data = decode_json(body)
    if not isinstance(data, dict):
        raise BadRequest(f"body must be a JSON object ({what}), not {json_type_name(data)}")
    return data


def json_type_name(v: Any) -> str:
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


class FieldReader:
    """Collects the ResponseIn fields of one delivery with the payload path each came from."""

    def __init__(self, source: str, raw: Any, now: datetime):
        self.data: dict[str, Any] = {"source": source, "raw": raw}
        self.paths: dict[str, str] = {}
        self.problems: list[FieldProblem] = []
        self.now = utc_now(now)

    def put(self, name: str, value: Any, path: str) -> None:
        """Set a field (None leaves it unset, so a required one reports 'is required' at `path`)."""
        self.paths[name] = path
        if value is not None:
            self.data[name] = value
        else:
            self.data.pop(name, None)

    def problem(self, path: str, message: str) -> None:
        self.problems.append(FieldProblem(field=path, problem=message))

    def part(self, value: Any, path: str, kind: type[dict] | type[list] = dict,
             why: str | None = None) -> Any:
        """An optional object (or list) inside the payload: empty when absent, and a problem at `path`
        (empty too) when it is something else."""
        if value is None:
            return kind()
        if not isinstance(value, kind):
            self.problem(path, why or ("must be an object" if kind is dict else "must be a list"))
            return kind()
        return value

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


def event_id_of(value: Any) -> str | None:
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


def utc_now(now: datetime) -> datetime:
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


def authenticate(source: str, settings: Settings, check: Callable[[str], None]) -> bool:
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


def survey_kind(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def norm_key(key: str) -> str:
    return re.sub(r"[\s\-]+", "_", key.strip().lower())
