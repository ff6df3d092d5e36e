"""Delighted's webhooks: `survey_response.created`, and `.updated` adding the comment to the response
already stored (never a second case); signed with the project's API key."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from bot.config import Settings, Workspace
from bot.intake.surveys import (
    FieldProblem,
    SurveyKind,
)
from handlers.intake import signing
from handlers.intake.parsing import (
    ALLOW_UNSIGNED_ENV,
    DELIGHTED,
    FieldReader,
    InvalidFields,
    Parsed,
    Unauthorized,
    authenticate,
    event_id_of,
    json_type_name,
    norm_key,
    object_body,
    survey_kind,
)
from handlers.intake.signing import header

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
    signed = authenticate(
        DELIGHTED, settings, lambda secret: signing.verify_delighted(body, header(headers, signing.DELIGHTED_HEADER),
                                                                     secret))
    payload = object_body(body, "a Delighted event")
    event_id = event_id_of(payload.get("event_id"))
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

    f = FieldReader(DELIGHTED, payload, now)
    survey_type = survey_kind(ed.get("survey_type"))
    if survey_type is None:
        survey_type = "nps"
    if not isinstance(survey_type, str) or survey_type not in _DELIGHTED_KINDS:
        shown = repr(survey_type) if isinstance(survey_type, str) else json_type_name(survey_type)
        f.problem("event_data.survey_type",
                  f"Delighted survey type {shown} is not supported (cxloop takes nps, csat and ces)")
        raise InvalidFields("invalid fields", f.problems)
    f.put("survey", _DELIGHTED_KINDS[survey_type].value, "event_data.survey_type")
    f.put("external_id", ed.get("id"), "event_data.id")
    f.put("score", ed.get("score"), "event_data.score")
    f.put("comment", ed.get("comment"), "event_data.comment")

    person = f.part(ed.get("person"), "event_data.person")
    props = f.part(ed.get("person_properties"), "event_data.person_properties")
    by_norm = {norm_key(k): k for k in props}

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
