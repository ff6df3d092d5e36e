"""Acknowledge at once, handle after: Slack requests through the inbox (bot/machinery/inbox.py).

The front app (the one Slack's HTTP requests or Socket Mode reach) checks the signature, stores
the payload of slash commands, button clicks and events, and once the row is committed answers
them with an empty 200 (bot/machinery/inbox_writer.py commits requests that arrive together at once). A
worker app with the same listeners, which runs each one to its end before returning
(`process_before_response`), then handles the stored payload, in this process or a worker process;
clicks and `/cx`, the requests Slack sends most, go straight to their listener's function
(handlers/slack/direct.py).
Modal submissions stay in the front app: their answer (validation errors) is the HTTP response.
Over HTTP, `take` does the same before Bolt's dispatch, which the hot path does not need.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from sqlalchemy.exc import DBAPIError

from bot.machinery.inbox_writer import InboxWriter
from bot.machinery.runtime import Runtime
from handlers.slack.direct import Route
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
    user: Any = body.get("user_id")
    for holder in (body.get("user"), body.get("event")):
        if not user and isinstance(holder, dict):
            user = holder.get("id") if holder is body.get("user") else holder.get("user")
    return f"slack:{user}" if isinstance(user, str) and user else None


NOT_STORED = "cxloop could not take that in just now. Please try again."


class SlackInbox:
    """Stores deferred requests and, as an inbox handler, runs them through the worker app."""

    def __init__(self, rt: Runtime, worker_app: AsyncApp | None, *, writer: InboxWriter | None = None,
                 on_stored: Callable[[], None] | None = None, direct: Route | None = None):
        self.rt = rt
        self.worker_app = worker_app
        # Stored clicks and /cx skip the worker app's dispatch (handlers/slack/direct.py).
        self.direct = direct
        self.writer = writer or InboxWriter(rt.engine, rt.for_ack)
        # In one-process mode, what was stored is handled right away (bot.inbox_writer.HandleSoon);
        # otherwise worker processes poll the inbox.
        self.on_stored = on_stored

    async def take(self, body: dict[str, Any], text: str | None = None) -> BoltResponse | None:
        """The HTTP fast path, before Bolt, for a request whose signature was checked: a deferrable
        one is stored and its answer returned; None leaves it to the front app (Bolt). `text`:
        the JSON `body` was read from, stored as it came."""
        kind = deferred_kind(body)
        if kind is None:
            return None
        return await self.accept(kind, body, text)

    def install(self, front: AsyncApp) -> None:
        """Put the store-then-acknowledge middleware in front of `front`'s own (Socket Mode's path:
        the acknowledgement goes back over the WebSocket only once this returns)."""

        @front.middleware
        async def store_then_acknowledge(body: dict[str, Any], next) -> BoltResponse | None:  # type: ignore[no-untyped-def]
            kind = deferred_kind(body)
            if kind is None:
                return await next()
            return await self.accept(kind, body)

    async def accept(self, kind: str, body: dict[str, Any], text: str | None = None) -> BoltResponse:
        """Store the request, then acknowledge it: the 200 goes out only once the row is committed."""
        try:
            await self.writer.put({"platform": "slack", "kind": kind, "lane": lane_of(body),
                                   "body": json.dumps(body) if text is None else text,
                                   "content_type": "application/json"})
        except Exception:
            log.exception("could not store a Slack %s; it is not acknowledged", kind)
            if kind == "command":
                # The command's own answer: the person reads it at once and can type it again.
                return BoltResponse(status=200, body=json.dumps({"response_type": "ephemeral", "text": NOT_STORED}),
                                    headers={"content-type": "application/json"})
            # Not acknowledged: Slack retries an event, and shows the person that their click failed.
            return BoltResponse(status=503, body="")
        if self.on_stored is not None:
            self.on_stored()
        return BoltResponse(status=200, body="")

    async def handle(self, item: InboxItem) -> str | None:
        """Run a stored request through the worker app's listeners, to their end."""
        # Socket Mode requests carry a parsed payload and no signature to check; a stored payload
        # is one too: its signature was checked before it was stored.
        assert self.worker_app is not None, "this process only stores requests"
        body = json.loads(item.body)
        work = self.direct(body) if self.direct is not None else None
        if work is not None:
            try:
                async with self.rt.track():
                    await work
            except DBAPIError:
                # The database failed the request's transaction, which rolled back: nothing was done,
                # so the item goes back to be tried again (bot/machinery/inbox.py).
                raise
            except Exception as exc:
                # As Bolt does with a listener that raises: noted on the item, not run again (its
                # transaction may have been committed before what raised).
                log.exception("a stored Slack %s failed", item.kind)
                return f"the listener raised {type(exc).__name__}: {str(exc)[:500]}"
            return None
        req = AsyncBoltRequest(body=body, mode="socket_mode")
        resp = await self.worker_app.async_dispatch(req)
        if resp.status >= 400:
            return f"the listener answered {resp.status}: {resp.body[:500]}"
        return None
