"""The generic webhook: cxloop's own shape, signed with `X-Cxloop-Signature` (README "Survey intake")."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from bot.config import Settings, Workspace
from handlers.intake import signing
from handlers.intake.parsing import (
    GENERIC,
    FieldReader,
    Parsed,
    authenticate,
    object_body,
    survey_kind,
)
from handlers.intake.signing import header


def parse_generic(body: bytes, headers: Mapping[str, str], *, settings: Settings, workspace: Workspace,
                  now: datetime) -> Parsed:
    """cxloop's own shape (README.md, "Survey intake"):

    `{"id", "survey", "score", "comment", "customer": {"id", "name", "email"}, "touchpoint",
    "responded_at"}`, signed with `X-Cxloop-Signature` keyed with CXLOOP_WEBHOOK_SECRET. The flat
    `customer_id`, `customer_name` and `customer_email` of the CSV import are accepted too.
    `responded_at` (ISO-8601, or Unix seconds) defaults to the time of receipt. Other keys are
    kept in `raw` and otherwise ignored. The rules every source shares are ResponseIn's
    (bot/intake/surveys.py): text fields must be JSON strings, and the answer time must lie in the accepted
    window (2000-01-01 to a day after `now`).
    """
    authenticate(GENERIC, settings,
                  lambda secret: signing.verify_generic(body, header(headers, signing.GENERIC_HEADER), secret))
    payload = object_body(body, "one survey response")
    f = FieldReader(GENERIC, payload, now)
    f.put("external_id", payload.get("id"), "id")
    f.put("survey", survey_kind(payload.get("survey")), "survey")
    f.put("score", payload.get("score"), "score")
    f.put("comment", payload.get("comment"), "comment")
    customer = f.part(payload.get("customer"), "customer", why="must be an object with id, name and email")
    for attr in ("id", "name", "email"):
        if customer.get(attr) is not None:
            f.put(f"customer_{attr}", customer.get(attr), f"customer.{attr}")
        else:
            f.put(f"customer_{attr}", payload.get(f"customer_{attr}"),
                  f"customer_{attr}" if f"customer_{attr}" in payload else f"customer.{attr}")
    f.put("touchpoint", payload.get("touchpoint"), "touchpoint")
    f.instant(payload.get("responded_at"), "responded_at")
    return Parsed(source=GENERIC, responses=[f.build()])
