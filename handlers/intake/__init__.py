"""Survey intake: authenticate and parse each survey tool's webhooks into `ResponseIn`.

Framework-free: the HTTP route (`POST /webhooks/{source}`) reads the body (refusing more than
`MAX_BODY` bytes with 413), calls `parse_webhook(source, body, headers, settings=..., workspace=...,
now=...)`, and answers `IntakeError.status` with `IntakeError.as_dict()` when it raises. A returned
`Parsed` is either ignored (`parsed.ignored` says why; answer 200) or carries responses to store
(with `parsed.event_id` for idempotency and `parsed.update_existing` for Delighted's comment updates).
"""

from handlers.intake.signing import SignatureError
from handlers.intake.sources import (
    MAX_BODY,
    PARSERS,
    SOURCES,
    BadRequest,
    IntakeError,
    InvalidFields,
    Parsed,
    PayloadTooLarge,
    Unauthorized,
    UnknownSource,
    decode_json,
    parse_delighted,
    parse_formbricks,
    parse_generic,
    parse_typeform,
    parse_webhook,
)

__all__ = [
    "MAX_BODY",
    "PARSERS",
    "SOURCES",
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
]
