"""Request bodies for every POST endpoint: read whole, within one cap, and parsed without surprises."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

MAX_BODY = 1024 * 1024
"""The largest request body any endpoint takes (1 MiB): webhooks, /slack/events and /api/messages."""


class BodyTooLarge(Exception):
    """The body is over MAX_BODY; str() says so, for a 413."""


async def read_body(request: web.Request) -> bytes:
    """The whole body, however many pieces it arrives in; BodyTooLarge past MAX_BODY.

    A declared Content-Length over the cap is refused before reading anything; otherwise the body
    is read to its end (aiohttp's `read()` loops until the stream is exhausted, stopping once the
    app's `client_max_size`, set to MAX_BODY in handlers/server.py, is exceeded).
    """
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise BodyTooLarge(f"body is {request.content_length} bytes; the limit is {MAX_BODY} (1 MiB)")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BodyTooLarge(f"body is over the {MAX_BODY}-byte (1 MiB) limit") from None
    if len(body) > MAX_BODY:  # an app built with a larger client_max_size
        raise BodyTooLarge(f"body is over the {MAX_BODY}-byte (1 MiB) limit")
    return body


def too_large(exc: BodyTooLarge) -> web.Response:
    return web.json_response({"error": str(exc)}, status=413)


MAX_DEPTH = 64
"""JSON nested deeper than this is refused: no Slack, Teams or survey payload comes close."""


class NotJson(ValueError):
    """The body is not JSON we take; str() says why, for a 400."""


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON; NotJson when it is unreadable or nested deeper than `max_depth`.

    The depth is checked before parsing, by a linear scan, so a body of 200,000 `[` never reaches
    the recursive parser (whose RecursionError would otherwise escape as a 500).
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw
    except UnicodeDecodeError as exc:
        raise NotJson(f"body is not UTF-8 text (invalid byte at offset {exc.start})") from None
    # Counting brackets is C-fast; only a body with more of them than max_depth needs the scan.
    if text.count("[") + text.count("{") > max_depth and json_depth(text) > max_depth:
        raise NotJson(f"body is nested more than {max_depth} levels deep")
    try:
        return json.loads(text)
    except RecursionError:  # pragma: no cover - the scan above bounds the depth
        raise NotJson(f"body is nested more than {max_depth} levels deep") from None
    except ValueError as exc:
        raise NotJson(f"body is not valid JSON: {exc}") from None


# A JSON string (with its escapes) as one token, or one bracket: brackets inside strings never count.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.S)


def json_depth(text: str) -> int:
    """The deepest nesting of `[`/`{` in JSON text, brackets inside strings aside; linear time."""
    depth = deepest = 0
    for m in _TOKENS.finditer(text):
        c = text[m.start()]
        if c == "[" or c == "{":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif c == "]" or c == "}":
            depth -= 1
    return deepest
