"""Acknowledge at once, handle after: Slack requests through the inbox (bot/inbox.py).

The front app (the one Slack's HTTP requests or Socket Mode reach) checks the signature, answers
slash commands, button clicks and events with an empty 200 at once, and stores their payload. A
worker app with the same listeners, which runs each one to its end before returning
(`process_before_response`), then handles the stored payload, in this process or a worker process.
Modal submissions stay in the front app: their answer (validation errors) is the HTTP response.
Over HTTP, `take` does the same before Bolt's dispatch, which the hot path does not need.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot import inbox
from bot.runtime import Runtime
from storage.models import InboxItem

log = logging.getLogger(__name__)

# Interaction payload types handled after the ack; view_submission, view_closed and block_suggestion
# must be answered in the HTTP response itself.
DEFERRED_TYPES = {"block_actions", "event_callback", "shortcut", "message_action"}


def deferred_kind(body: dict[str, Any]) -> str | None:
    """What kind of deferrable request `body` is, or None if it must be answered in the response."""
    if body.get("command"):
        return "command"
    kind = body.get("type")
    return kind if kind in DEFERRED_TYPES else None


def lane_of(body: dict[str, Any]) -> str | None:
    """Whose request this is: one person's requests are handled in the order they were made."""
    user = body.get("user_id") or (body.get("user") or {}).get("id") or (body.get("event") or {}).get("user")
    return f"slack:{user}" if isinstance(user, str) and user else None


class SlackInbox:
    """Stores deferred requests and, as an inbox handler, runs them through the worker app."""

    def __init__(self, rt: Runtime, worker_app: AsyncApp | None, *, handle_here: bool):
        self.rt = rt
        self.worker_app = worker_app
        # In one-process mode, stored items are handled right away by this process's worker;
        # otherwise worker processes poll the inbox.
        self.worker = inbox.InboxWorker(rt.engine, self.handle) if handle_here else None
        self._tasks: set[asyncio.Task[None]] = set()

    async def take(self, body: dict[str, Any]) -> BoltResponse | None:
        """The HTTP fast path, before Bolt, for a request whose signature was checked: a deferrable
        one is stored and its answer returned; None leaves it to the front app (Bolt)."""
        kind = deferred_kind(body)
        if kind is None:
            return None
        self._defer(kind, body)
        return BoltResponse(status=200, body="")

    def _defer(self, kind: str, body: dict[str, Any]) -> None:
        task = asyncio.create_task(self._store(kind, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def install(self, front: AsyncApp) -> None:
        """Put the acknowledge-and-store middleware in front of `front`'s own."""

        @front.middleware
        async def acknowledge_then_store(body: dict[str, Any], next) -> BoltResponse | None:  # type: ignore[no-untyped-def]
            kind = deferred_kind(body)
            if kind is None:
                return await next()
            self._defer(kind, body)
            return BoltResponse(status=200, body="")

    async def _store(self, kind: str, body: dict[str, Any]) -> None:
        async with self.rt.track():
            try:
                await self.rt.for_ack(lambda: inbox.put(self.rt.engine, platform="slack", kind=kind, lane=lane_of(body),
                                                        body=json.dumps(body), content_type="application/json"))
            except Exception:
                log.exception("could not store a Slack %s; telling the user", kind)
                await self._apologise(body)
                return
            if self.worker is not None:
                await self.worker.drain()

    async def _apologise(self, body: dict[str, Any]) -> None:
        url = body.get("response_url") or next(iter(body.get("response_urls") or []), {}).get("response_url")
        if not url:
            return
        from slack_sdk.webhook.async_client import AsyncWebhookClient

        try:
            await AsyncWebhookClient(url).send(response_type="ephemeral", replace_original=False,
                                               text="cxloop could not take that in just now. Please try again.")
        except Exception:
            log.exception("could not tell the user their request was not stored")

    async def handle(self, item: InboxItem) -> str | None:
        """Run a stored request through the worker app's listeners, to their end."""
        # Socket Mode requests carry a parsed payload and no signature to check; a stored payload
        # is one too: its signature was checked before it was stored.
        assert self.worker_app is not None, "this process only stores requests"
        req = AsyncBoltRequest(body=json.loads(item.body), mode="socket_mode")
        resp = await self.worker_app.async_dispatch(req)
        if resp.status >= 400:
            return f"the listener answered {resp.status}: {resp.body[:500]}"
        return None
