"""Formbricks' webhooks (Standard Webhooks signatures): finished responses, as an object or a one-element array."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.config import FormbricksSurvey, Settings, Workspace
from bot.intake.surveys import (
    FieldProblem,
    json_type,
)
from handlers.intake import signing
from handlers.intake.parsing import (
    FORMBRICKS,
    BadRequest,
    FieldReader,
    InvalidFields,
    Parsed,
    authenticate,
    decode_json,
    event_id_of,
    json_type_name,
    utc_now,
)
from handlers.intake.signing import header

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
    now = utc_now(now)
    authenticate(FORMBRICKS, settings, lambda secret: signing.verify_standard_webhook(body, headers, secret, now=now))
    event_id = event_id_of(header(headers, signing.WEBHOOK_ID_HEADER))
    payload = decode_json(body)
    prefix = ""
    event_obj = payload
    if isinstance(payload, list):
        if len(payload) != 1:
            raise BadRequest(f"body must be one Formbricks event (an object, or an array holding exactly one), "
                             f"not {json_type_name(payload)}")
        event_obj, prefix = payload[0], "[0]."
    if not isinstance(event_obj, dict):
        raise BadRequest(f"body must be a Formbricks event object, not {json_type_name(event_obj)}")

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

    f = FieldReader(FORMBRICKS, payload, now)
    p = f"{prefix}data."
    answers = f.part(resp.get("data"), f"{p}data")
    contact = f.part(resp.get("contact"), f"{p}contact")
    attrs = f.part(resp.get("contactAttributes"), f"{p}contactAttributes")

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
