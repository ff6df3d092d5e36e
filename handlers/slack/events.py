"""Slack events: each event id handled once, and the App Home built when it is opened."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session, select

from bot.chat.messages import Message
from bot.console.home import open_home
from bot.machinery.runtime import Runtime
from handlers.slack import render
from handlers.slack.common import actor_of, tracked
from storage.models import ProcessedEvent

log = logging.getLogger(__name__)


def register(app: AsyncApp, rt: Runtime) -> None:
    @app.middleware
    async def once_per_event(body: dict[str, Any], context: AsyncBoltContext, next) -> Any:  # type: ignore[no-untyped-def]
        """Slack redelivers events it thinks were missed; handle each event id once."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id:
            def seen(session: Session) -> bool:
                if session.exec(select(ProcessedEvent.id).where(ProcessedEvent.source == "slack",
                                                                ProcessedEvent.event_id == event_id)).first():
                    return True
                session.add(ProcessedEvent(source="slack", event_id=event_id))
                return False

            try:
                if await asyncio.to_thread(rt.transaction, seen):
                    return BoltResponse(status=200, body="")
            except Exception:
                log.exception("could not record event %s", event_id)
        return await next()

    @app.event("app_home_opened")
    @tracked(rt)
    async def on_home(event: dict[str, Any], client: AsyncWebClient) -> None:
        user = event["user"]
        if event.get("tab", "home") != "home":
            return  # the Messages tab: nothing to publish

        def build(session: Session) -> Message:
            return open_home(session, rt.workspace, actor_of(session, user), now=rt.now())

        msg = await rt.after_ack(rt.transaction, build)
        await client.views_publish(user_id=user, view={"type": "home", "blocks": render.blocks(msg.blocks)})
