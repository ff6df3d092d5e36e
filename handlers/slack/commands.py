"""`/cx` in Slack: acknowledged at once, answered on the command's response_url."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from sqlmodel import Session

from bot.console import registry
from bot.errors import CxError
from bot.machinery.runtime import Runtime
from handlers.slack import render
from handlers.slack.client import response_url_client
from handlers.slack.common import actor_of, tracked
from handlers.slack.mentions import command_text

COMMAND = "/cx"


async def run_cx(rt: Runtime, body: dict[str, Any]) -> None:
    """`/cx`, after its acknowledgement: run in one transaction, answered on the command's
    response_url. Bolt's listener calls this, and so does the inbox worker for a stored command
    (handlers/slack/direct.py)."""
    text = body.get("text") or ""
    user = body["user_id"]

    async def respond(**message: Any) -> None:
        # As Bolt's `respond`, on the loop's kept-alive connections (handlers/slack/client.py).
        await response_url_client(body["response_url"]).send_dict(message)

    def run(session: Session) -> registry.Reply:
        line = command_text(session, text)
        return registry.dispatch(session, rt.workspace, actor_of(session, user), line, now=rt.now())

    try:
        # A command that only reads (`/cx mine`) does not take SQLite's write lock: the server's
        # acknowledgements, which are writes, never wait for it.
        reply = await rt.after_ack(rt.reading if registry.reads_only(text) else rt.transaction, run)
    except CxError as exc:
        await respond(response_type="ephemeral", text=render.safe(str(exc)))
        return
    await respond(response_type="in_channel" if reply.public else "ephemeral", **render.message(reply.message))


def register(app: AsyncApp, rt: Runtime) -> None:
    @app.command(COMMAND)
    @tracked(rt)
    async def on_cx(ack: AsyncAck, body: dict[str, Any]) -> None:
        # Slack gets its acknowledgement at once; the answer follows on the command's response_url,
        # so no query, however slow, can push the ack past Slack's 3 seconds.
        await ack()
        await run_cx(rt, body)
