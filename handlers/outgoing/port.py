"""Delivers queued outgoing events (platform "webhook") to the workspace's `outgoing.url`.

Each body is signed as cxloop's own generic webhook is signed (`X-Cxloop-Signature: sha256=<hex
HMAC-SHA256 of the raw body>`, handlers/intake/signing.py), with the secret from the YAML. The body
is the queued payload serialized the same way on every attempt (sorted keys, no spaces), so a retry
carries the same bytes, the same signature and the same `Idempotency-Key`.

What the receiver's answer means to the outbox (bot/machinery/outbox.py):
- 2xx: delivered. 409 too: a receiver that keys by Idempotency-Key may answer a repeat that way.
- 429, or 503 with Retry-After: nothing was done; wait as long as it says (1 s to 1 h).
- 5xx, 408, a timeout or a dropped connection: retried with the outbox's back-off. The receiver may
  have acted on it; the repeat has the same idempotency key.
- Any other answer (400, 401, 403, 404, 410, 422, a redirect): the event failed for good, and the
  outbox row keeps the reason; retrying would get the same answer.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from bot.machinery.outbox import Delivered, PermanentFailure, RetryLater
from handlers.intake.signing import GENERIC_HEADER, sign_generic
from storage.models import OutboxMessage
from storage.types import utcnow

IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_HEADER = "X-Cxloop-Event"
RETRY_AFTER_RANGE = (1.0, 3600.0)


def body_bytes(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent for a payload: the same on every attempt."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), kept within RETRY_AFTER_RANGE."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            at = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if at.tzinfo is None:
            at = at.replace(tzinfo=timezone.utc)
        seconds = (at - utcnow()).total_seconds()
    low, high = RETRY_AFTER_RANGE
    return min(high, max(low, seconds))


class WebhookPort:
    """The delivery port for outgoing events."""

    platform = "webhook"
    settle = 0.0  # a receiver cannot be asked what it got: a repeat relies on the idempotency key

    def __init__(self, url: str, secret: str, *, timeout: float = 10.0):
        self.url = url
        self.secret = secret
        self.timeout = timeout

    def pace(self, action: str) -> float:
        return 0.0

    async def send(self, row: OutboxMessage, *, thread: Delivered | None, anchor: Delivered | None) -> Delivered:
        payload = dict(row.payload or {})
        body = body_bytes(payload)
        headers = {"Content-Type": "application/json", "User-Agent": "cxloop", GENERIC_HEADER: sign_generic(body, self.secret),
                   IDEMPOTENCY_HEADER: row.dedupe_key, EVENT_HEADER: str(payload.get("event", ""))}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as http:
                async with http.post(self.url, data=body, headers=headers, allow_redirects=False) as r:
                    status, after = r.status, r.headers.get("Retry-After")
                    reason = (await r.text(errors="replace"))[:300]
        except (asyncio.TimeoutError, TimeoutError) as exc:
            raise RetryLater(f"the webhook receiver did not answer within {self.timeout:g} s ({exc!r})",
                             unanswered=True) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise RetryLater(f"could not reach the webhook receiver: {exc!r}", unanswered=True) from None
        if 200 <= status < 300 or status == 409:
            return Delivered(channel=self.platform, ref=row.dedupe_key)
        wait = retry_after(after)
        if status == 429 or (status == 503 and wait is not None):
            raise RetryLater(f"the webhook receiver answered {status}", after=wait or 1.0)
        if status >= 500 or status == 408:
            raise RetryLater(f"the webhook receiver answered {status}: {reason}", maybe_sent=True)
        raise PermanentFailure(f"the webhook receiver answered {status}: {reason}")

    async def find_sent(self, row: OutboxMessage, *, thread: Delivered | None = None) -> Delivered | None:
        return None  # nothing to ask: the repeat carries the same idempotency key
