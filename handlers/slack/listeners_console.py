"""Slack listeners for the managers' console: the "Next page" button of paged lists."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session

from bot.console import registry as commands
from bot.console.commands import PAGE_ACTION
from bot.errors import CxError
from bot.people.roster import actor_for, member_by_slack
from bot.machinery.runtime import Runtime
from handlers.slack import render


def register(app: AsyncApp, rt: Runtime) -> None:
    @app.action(PAGE_ACTION)
    async def on_page(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        async with rt.track():
            value = json.loads(body["actions"][0].get("value") or "{}")
            line = f"{value.get('cmd', '')} page {int(value.get('page', 1))}"
            user = body["user"]["id"]
            channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")

            def run(session: Session) -> commands.Reply:
                return commands.dispatch(session, rt.workspace, actor_for(session, member_by_slack(session, user)),
                                         line, now=rt.now())

            try:
                reply = await asyncio.to_thread(rt.transaction, run)
                args = render.message(reply.message)
            except CxError as exc:
                args = {"text": render.safe(str(exc))}
            if channel:
                await client.chat_postEphemeral(channel=channel, user=user, **args)
