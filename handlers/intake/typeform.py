"""Typeform's `form_response` webhooks: which question is the score is mapped per form in the YAML."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.config import Settings, TypeformForm, Workspace
from bot.intake.surveys import (
    FieldProblem,
)
from handlers.intake import signing
from handlers.intake.parsing import (
    TYPEFORM,
    FieldReader,
    InvalidFields,
    Parsed,
    authenticate,
    event_id_of,
    object_body,
)
from handlers.intake.signing import header

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
    def __init__(self, fr: dict[str, Any], f: FieldReader, prefix: str):
        answers = f.part(fr.get("answers"), f"{prefix}answers", list)
        hidden = f.part(fr.get("hidden"), f"{prefix}hidden")
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
    authenticate(TYPEFORM, settings,
                  lambda secret: signing.verify_typeform(body, header(headers, signing.TYPEFORM_HEADER), secret))
    payload = object_body(body, "a Typeform event")
    event_id = event_id_of(payload.get("event_id"))
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

    f = FieldReader(TYPEFORM, payload, now)
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
