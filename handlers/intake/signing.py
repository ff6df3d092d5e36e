"""Webhook signatures: constant-time checks for each survey tool, and the matching signers.

Every `verify_*` function returns None when the request is authentic and raises `SignatureError`
(with a message fit to send back in a 401) when it is not. The `sign_*` functions produce exactly
what the vendor sends, so tests and `cxloop demo` can make valid requests.

Schemes, as the vendors document them:

- cxloop's generic webhook: `X-Cxloop-Signature: sha256=<hex HMAC-SHA256 of the raw body>`,
  keyed with CXLOOP_WEBHOOK_SECRET (README.md, "Survey intake").
- Delighted: `X-Delighted-Webhook-Signature: sha256=<hex HMAC-SHA256 of the raw body>`, keyed with
  the project's private API key (delighted.com/docs/api/webhooks: "an HMAC SHA-256 digest generated
  using your private API key over the request body"). A bare hex digest is accepted too.
- Typeform: `Typeform-Signature: sha256=<base64 HMAC-SHA256 of the raw body>`, keyed with the
  webhook's `secret` (typeform.com/developers/webhooks/secure-your-webhooks).
- Formbricks: Standard Webhooks (github.com/standard-webhooks/standard-webhooks, and Formbricks'
  docs/platform/features/integrations/webhooks.mdx): headers `webhook-id`, `webhook-timestamp`
  (Unix seconds) and `webhook-signature: v1,<base64>` (possibly several, space separated), the
  HMAC-SHA256 of `"{id}.{timestamp}.{body}"` keyed with the base64-decoded part of `whsec_<base64>`;
  the timestamp must be within 5 minutes of now.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime, timezone

GENERIC_HEADER = "X-Cxloop-Signature"
DELIGHTED_HEADER = "X-Delighted-Webhook-Signature"
TYPEFORM_HEADER = "Typeform-Signature"
WEBHOOK_ID_HEADER = "webhook-id"
WEBHOOK_TIMESTAMP_HEADER = "webhook-timestamp"
WEBHOOK_SIGNATURE_HEADER = "webhook-signature"

STANDARD_WEBHOOKS_TOLERANCE = 5 * 60  # seconds, either side of now
WHSEC_PREFIX = "whsec_"

_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
_MAX_SIGNATURE_HEADER = 4096  # a header longer than this is not a signature; do not even parse it


class SignatureError(ValueError):
    """The request's signature is missing, malformed, stale or wrong; str() says which."""


# ----------------------------------------------------------------------------------------------
# small helpers


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, matched case-insensitively whatever kind of mapping `headers` is."""
    try:
        value = headers.get(name)
    except Exception:  # noqa: BLE001 - an odd mapping must not break verification
        value = None
    if value is None:
        lowered = name.lower()
        try:
            for key, v in headers.items():
                if isinstance(key, str) and key.lower() == lowered:
                    value = v
                    break
        except Exception:  # noqa: BLE001
            value = None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value if isinstance(value, str) else None


def _key(secret: str | bytes) -> bytes:
    return secret if isinstance(secret, bytes) else secret.encode("utf-8")


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _text_bytes(value: str) -> bytes:
    # Header values may hold anything; compare bytes so compare_digest never sees non-ASCII text.
    return value.encode("utf-8", "replace")


def _same(expected: bytes, received: bytes) -> bool:
    return hmac.compare_digest(expected, received)


def _strip_prefix(value: str, prefix: str) -> tuple[bool, str]:
    if value[: len(prefix)].lower() == prefix:
        return True, value[len(prefix):]
    return False, value


def _present(value: str | None, name: str) -> str:
    if value is None or not value.strip():
        raise SignatureError(f"missing {name} header")
    if len(value) > _MAX_SIGNATURE_HEADER:
        raise SignatureError(f"{name} header is too long to be a signature")
    return value.strip()


# ----------------------------------------------------------------------------------------------
# hex HMAC over the body: cxloop's generic webhook and Delighted


def sign_generic(body: bytes, secret: str | bytes) -> str:
    """The `X-Cxloop-Signature` value for `body`: `sha256=<hex>`."""
    return "sha256=" + _hmac(_key(secret), body).hex()


def verify_generic(body: bytes, signature: str | None, secret: str | bytes) -> None:
    """Check an `X-Cxloop-Signature: sha256=<hex>` header (the prefix is required)."""
    value = _present(signature, GENERIC_HEADER)
    has_prefix, digest = _strip_prefix(value, "sha256=")
    if not has_prefix:
        raise SignatureError(f"{GENERIC_HEADER} must look like sha256=<hex digest>")
    _check_hex(body, digest.strip(), secret, GENERIC_HEADER)


def sign_delighted(body: bytes, secret: str | bytes) -> str:
    """The `X-Delighted-Webhook-Signature` value Delighted sends: `sha256=<hex>`, keyed with the API key."""
    return "sha256=" + _hmac(_key(secret), body).hex()


def verify_delighted(body: bytes, signature: str | None, secret: str | bytes) -> None:
    """Check an `X-Delighted-Webhook-Signature` header (`sha256=<hex>`, or the bare hex digest)."""
    value = _present(signature, DELIGHTED_HEADER)
    _, digest = _strip_prefix(value, "sha256=")
    _check_hex(body, digest.strip(), secret, DELIGHTED_HEADER)


def _check_hex(body: bytes, digest: str, secret: str | bytes, name: str) -> None:
    if not _HEX.match(digest):
        raise SignatureError(f"{name} does not hold a hex SHA-256 digest")
    expected = _hmac(_key(secret), body).hex()
    if not _same(expected.encode("ascii"), digest.lower().encode("ascii")):
        raise SignatureError(f"{name} does not match the request body")


# ----------------------------------------------------------------------------------------------
# Typeform: base64 HMAC over the body


def sign_typeform(body: bytes, secret: str | bytes) -> str:
    """The `Typeform-Signature` value Typeform sends: `sha256=<base64>`."""
    return "sha256=" + base64.b64encode(_hmac(_key(secret), body)).decode("ascii")


def verify_typeform(body: bytes, signature: str | None, secret: str | bytes) -> None:
    """Check a `Typeform-Signature: sha256=<base64>` header."""
    value = _present(signature, TYPEFORM_HEADER)
    has_prefix, _ = _strip_prefix(value, "sha256=")
    if not has_prefix:
        raise SignatureError(f"{TYPEFORM_HEADER} must look like sha256=<base64 digest>")
    expected = sign_typeform(body, secret)
    if not _same(_text_bytes(expected), _text_bytes("sha256=" + value[len("sha256="):].strip())):
        raise SignatureError(f"{TYPEFORM_HEADER} does not match the request body")


# ----------------------------------------------------------------------------------------------
# Standard Webhooks (Formbricks)


def standard_webhooks_key(secret: str | bytes) -> bytes:
    """The HMAC key of a Standard Webhooks secret: the base64 after `whsec_`, decoded.

    A secret that is not base64 (someone pasted their own string) is used as its UTF-8 bytes, so a
    misconfiguration shows up as 401s rather than as a crash.
    """
    if isinstance(secret, bytes):
        return secret
    text = secret.strip()
    if text.startswith(WHSEC_PREFIX):
        text = text[len(WHSEC_PREFIX):]
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return text.encode("utf-8")


def sign_standard_webhook(body: bytes, secret: str | bytes, msg_id: str, timestamp: int) -> str:
    """The `webhook-signature` value for a message: `v1,<base64 HMAC of "id.timestamp.body">`."""
    signed = f"{msg_id}.{int(timestamp)}.".encode("utf-8") + body
    return "v1," + base64.b64encode(_hmac(standard_webhooks_key(secret), signed)).decode("ascii")


def standard_webhook_headers(body: bytes, secret: str | bytes, msg_id: str, timestamp: int | datetime) -> dict[str, str]:
    """The three headers a Standard Webhooks sender (Formbricks) attaches to `body`."""
    ts = int(timestamp.timestamp()) if isinstance(timestamp, datetime) else int(timestamp)
    return {
        WEBHOOK_ID_HEADER: msg_id,
        WEBHOOK_TIMESTAMP_HEADER: str(ts),
        WEBHOOK_SIGNATURE_HEADER: sign_standard_webhook(body, secret, msg_id, ts),
    }


def verify_standard_webhook(
    body: bytes,
    headers: Mapping[str, str],
    secret: str | bytes,
    *,
    now: datetime,
    tolerance: int = STANDARD_WEBHOOKS_TOLERANCE,
) -> None:
    """Check `webhook-id`, `webhook-timestamp` and `webhook-signature` as Standard Webhooks specifies.

    Any one of the space-separated `v1,<base64>` signatures may match (senders list several while
    they rotate secrets); other versions are skipped.
    """
    msg_id = _present(header(headers, WEBHOOK_ID_HEADER), WEBHOOK_ID_HEADER)
    raw_ts = _present(header(headers, WEBHOOK_TIMESTAMP_HEADER), WEBHOOK_TIMESTAMP_HEADER)
    sigs = _present(header(headers, WEBHOOK_SIGNATURE_HEADER), WEBHOOK_SIGNATURE_HEADER)
    if not raw_ts.isascii() or not raw_ts.isdigit() or len(raw_ts) > 12:
        raise SignatureError(f"{WEBHOOK_TIMESTAMP_HEADER} must be a Unix time in seconds")
    ts = int(raw_ts)
    current = (now if now.tzinfo else now.replace(tzinfo=timezone.utc)).timestamp()
    if ts < current - tolerance:
        raise SignatureError(f"{WEBHOOK_TIMESTAMP_HEADER} is more than {tolerance // 60} minutes old")
    if ts > current + tolerance:
        raise SignatureError(f"{WEBHOOK_TIMESTAMP_HEADER} is more than {tolerance // 60} minutes in the future")
    expected = sign_standard_webhook(body, secret, msg_id, ts)
    expected_b = _text_bytes(expected)
    matched = False
    for candidate in sigs.split():
        if not candidate.startswith("v1,"):
            continue
        # Keep comparing after a match, so timing does not reveal which entry matched.
        if _same(expected_b, _text_bytes(candidate)):
            matched = True
    if not matched:
        raise SignatureError(f"no {WEBHOOK_SIGNATURE_HEADER} entry matches the request")
