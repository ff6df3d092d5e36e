"""Slack request signatures, checked on the raw bytes before anything reads the body.

Slack signs `v0:{X-Slack-Request-Timestamp}:{body}` with HMAC-SHA256 keyed with the signing secret
and sends `X-Slack-Signature: v0=<hex>` (docs.slack.dev/authentication/verifying-requests-from-slack).
slack_sdk's SignatureVerifier raises on a timestamp that is not an integer ("", "abc", "1.5e9"), on
a non-ASCII signature and on a body that is not UTF-8, each of which would be a 500; this checks the
same thing, says what is wrong, and never raises.
"""

from __future__ import annotations

import codecs
import hmac
import re
import time
from collections.abc import Mapping
from urllib.parse import parse_qsl

from handlers.body import NotJson, loads

TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"
TOLERANCE = 5 * 60  # seconds either side of now, as Slack recommends

_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^v0=[0-9a-fA-F]{64}$")


def refusal(raw: bytes, headers: Mapping[str, str], secret: str, *, now: float | None = None) -> str | None:
    """Why this request is not Slack's (for a 401), or None when its signature checks out."""
    ts = (headers.get(TIMESTAMP_HEADER) or "").strip()
    sig = (headers.get(SIGNATURE_HEADER) or "").strip()
    if not ts:
        return f"missing {TIMESTAMP_HEADER} header"
    if not _TIMESTAMP.match(ts):
        return f"{TIMESTAMP_HEADER} must be a Unix time in whole seconds"
    # The sender's wall clock against ours (not the process's domain clock, which tests and
    # rehearsals move): this bounds replays, as Slack's own verifier does.
    current = time.time() if now is None else now
    if abs(current - int(ts)) > TOLERANCE:
        return f"{TIMESTAMP_HEADER} is more than {TOLERANCE // 60} minutes from now (a replay, or a wrong clock)"
    if not sig:
        return f"missing {SIGNATURE_HEADER} header"
    if not _SIGNATURE.match(sig):
        return f"{SIGNATURE_HEADER} must look like v0=<hex HMAC-SHA256>"
    if not hmac.compare_digest(_digest(raw, secret, ts), bytes.fromhex(sig[3:])):
        return f"{SIGNATURE_HEADER} does not match the request"
    return None


def sign(raw: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """The two headers Slack sends with `raw` (for the demo and tests)."""
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: "v0=" + _digest(raw, secret, str(timestamp)).hex()}


def _digest(raw: bytes, secret: str, timestamp: str) -> bytes:
    """HMAC-SHA256 of Slack's base string `v0:{timestamp}:{body}`, keyed with the signing secret."""
    return hmac.digest(secret.encode(), b"v0:" + timestamp.encode() + b":" + raw, "sha256")


def parse(raw: bytes, content_type: str | None) -> tuple[dict, str | None]:  # type: ignore[type-arg]
    """A signed request's payload as Bolt reads it: JSON (Events API), `payload=<json>`
    (interactivity) or form fields (slash commands); and the JSON text it was read from (None for
    form fields), which the inbox stores as it came instead of writing the payload out again.
    NotJson says why it cannot be read."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotJson(f"body is not UTF-8 text (invalid byte at offset {exc.start})") from None
    if not text:
        raise NotJson("body is empty")
    source: str | None
    if (content_type or "").split(";")[0].strip() == "application/json" or text.startswith("{"):
        source = text
    else:
        params = form_fields(raw, text)
        source = params.get("payload")
        if source is None:
            return params, None
    body = loads(source)
    if not isinstance(body, dict):
        raise NotJson("body must be a JSON object or form fields")
    return body, source


def form_fields(raw: bytes, text: str) -> dict[str, str]:
    """Form fields (`a=1&b=2`, percent-encoded), as `dict(parse_qsl(text, keep_blank_values=True))`
    reads them. A click's payload is a few kilobytes of JSON with most punctuation percent-encoded,
    which parse_qsl decodes in Python, one escape at a time: here each `%XX` becomes `\\xXX` and
    is decoded in C. Where that could read differently (a backslash, a malformed escape, bytes that
    are not UTF-8), parse_qsl does it."""
    if b"\\" not in raw:
        try:
            fields: dict[str, str] = {}
            for pair in raw.split(b"&"):
                if not pair:
                    continue
                name, _, value = pair.partition(b"=")
                fields[_unescape(name)] = _unescape(value)
            return fields
        except (ValueError, UnicodeDecodeError):
            pass
    return dict(parse_qsl(text, keep_blank_values=True))


def _unescape(part: bytes) -> str:
    # ValueError for a "%" not followed by two hex digits; UnicodeDecodeError for bytes that are not UTF-8.
    return codecs.escape_decode(part.replace(b"+", b" ").replace(b"%", b"\\x"))[0].decode("utf-8")  # type: ignore[attr-defined]
