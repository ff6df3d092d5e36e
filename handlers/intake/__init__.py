"""Survey intake: authenticate and parse each survey tool's webhooks into `ResponseIn`.

Framework-free: the HTTP route (`POST /webhooks/{source}`) reads the body (refusing more than
`MAX_BODY` bytes with 413), calls `parse_webhook(source, body, headers, settings=..., workspace=...,
now=...)`, and answers `IntakeError.status` with `IntakeError.as_dict()` when it raises. A returned
`Parsed` is either ignored (`parsed.ignored` says why; answer 200) or carries responses to store
(with `parsed.event_id` for idempotency and `parsed.update_existing` for Delighted's comment updates).
"""

from handlers.intake.delighted import parse_delighted
from handlers.intake.formbricks import parse_formbricks
from handlers.intake.generic import parse_generic
from handlers.intake.parsing import (
    ALLOW_UNSIGNED_ENV,
    DELIGHTED,
    FORMBRICKS,
    GENERIC,
    MAX_BODY,
    SECRET_SETTINGS,
    SOURCES,
    TYPEFORM,
    BadRequest,
    IntakeError,
    InvalidFields,
    Parsed,
    PayloadTooLarge,
    Unauthorized,
    UnknownSource,
    decode_json,
    secret_for,
)
from handlers.intake.signing import SignatureError
from handlers.intake.sources import PARSERS, parse_webhook
from handlers.intake.typeform import parse_typeform

__all__ = [
    "ALLOW_UNSIGNED_ENV",
    "DELIGHTED",
    "FORMBRICKS",
    "GENERIC",
    "MAX_BODY",
    "PARSERS",
    "SECRET_SETTINGS",
    "SOURCES",
    "TYPEFORM",
    "BadRequest",
    "IntakeError",
    "InvalidFields",
    "Parsed",
    "PayloadTooLarge",
    "SignatureError",
    "Unauthorized",
    "UnknownSource",
    "decode_json",
    "parse_delighted",
    "parse_formbricks",
    "parse_generic",
    "parse_typeform",
    "parse_webhook",
    "secret_for",
]
