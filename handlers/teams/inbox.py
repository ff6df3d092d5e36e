"""Acknowledge after storing: Teams activities through the inbox (bot/machinery/inbox.py), as Slack's go.

`POST /api/messages` checks the token, then stores a message, install or other notification with
what the check established (the claims, the audience, the caller id) and answers 200 once the row
is committed. A worker, in this process or a worker process, rebuilds the authenticated turn from
the stored row and runs it through the same activity handler, so its replies go out from there.
Invokes (dialogs opening and submitting) are not deferred: their answer is the HTTP response.

Teams re-sends an activity its bot did not answer in time (about 15 s); answering at once avoids
most of those, and the handler's processed-event check (the activity id) makes the rest no-ops.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from botbuilder.core import Bot
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, ActivityTypes
from botframework.connector.auth import AuthenticateRequestResult, ClaimsIdentity

from bot.machinery.inbox_writer import InboxWriter
from bot.machinery.runtime import Runtime
from storage.models import InboxItem

log = logging.getLogger(__name__)


def deferred(activity: Activity) -> bool:
    """Whether the activity is handled after its acknowledgement (everything but invokes)."""
    return activity.type != ActivityTypes.invoke


def lane_of(activity: Activity) -> str | None:
    """One person's activities are handled in the order they were sent."""
    sender = activity.from_property
    who = (getattr(sender, "aad_object_id", None) or getattr(sender, "id", None)) if sender else None
    return f"teams:{who}" if isinstance(who, str) and who else None


class TeamsInbox:
    """Stores deferred activities and, as an inbox handler, runs them through the activity handler."""

    def __init__(self, rt: Runtime, adapter: CloudAdapter, bot: Bot, *, writer: InboxWriter | None = None,
                 on_stored: Callable[[], None] | None = None):
        self.rt = rt
        self.adapter = adapter
        self.bot = bot
        self.writer = writer or InboxWriter(rt.engine, rt.for_ack)
        self.on_stored = on_stored

    async def accept(self, activity: Activity, raw: dict[str, Any], auth: AuthenticateRequestResult) -> None:
        """Store an authenticated activity (`raw`: its JSON as received, which deserializes to exactly the
        same activity: msrest's serialize() drops what botbuilder keeps only as additional properties,
        such as a mention's text); returns once the row is committed, or raises."""
        claims = auth.claims_identity
        body = {"activity": raw, "claims": dict(claims.claims or {}) if claims else {},
                "authenticated": bool(claims and claims.is_authenticated),
                "authentication_type": claims.authentication_type if claims else None,
                "audience": auth.audience, "caller_id": auth.caller_id}
        await self.writer.put({"platform": "teams", "kind": activity.type, "lane": lane_of(activity),
                               "body": json.dumps(body), "content_type": "application/json"})
        if self.on_stored is not None:
            self.on_stored()

    async def handle(self, item: InboxItem) -> str | None:
        """Run a stored activity through the bot, as the request that brought it was authenticated."""
        doc: dict[str, Any] = json.loads(item.body)
        activity = Activity().deserialize(doc["activity"])
        identity = ClaimsIdentity(doc.get("claims") or {}, bool(doc.get("authenticated")),
                                  doc.get("authentication_type"))
        auth = AuthenticateRequestResult()
        auth.claims_identity, auth.audience, auth.caller_id = identity, doc.get("audience"), doc.get("caller_id")
        # The claims were checked when the request came in; the factory makes the connector clients
        # (and their tokens) the turn replies with, as authenticate_request would have.
        auth.connector_factory = self.adapter.bot_framework_authentication.create_connector_factory(identity)
        await self.adapter.process_activity(auth, activity, self.bot.on_turn)
        return None
