"""A running cxloop (HTTP server, outbox worker) wired to the local Slack stand-in, for tests."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestServer
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.config import Settings, Workspace, load_workspace
from bot.machinery.runtime import Runtime
from bot.people.roster import sync_workspace
from handlers.serve import build_services
from handlers.server import build_web_app
from standins.slack_api import SlackStandIn
from standins.slack_sender import SlackSender
from storage.db import session_scope
from storage.models import OutboxMessage

SIGNING_SECRET = "test-signing-secret"
TOKEN = "xoxb-test"
SETTLE = 1.5


class Clock:
    """A clock tests can move."""

    def __init__(self, start: Any = None):
        from storage.types import utcnow

        self.now = start or utcnow()

    def __call__(self) -> Any:
        return self.now


class CxHarness:
    def __init__(self, engine: Engine, *, workspace: Workspace | None = None, pacing: float = 0.0,
                 enforce_channel_rate: bool = False, env: dict[str, str] | None = None):
        self.engine = engine
        self.ws = workspace or load_workspace()
        self.pacing = pacing
        self.slack = SlackStandIn(token=TOKEN, enforce_channel_rate=enforce_channel_rate)
        self.env = env or {}
        self.clock = Clock()

    async def __aenter__(self) -> "CxHarness":
        await self.slack.start()
        for uid, person in self.ws.people.items():
            self.slack.add_user(uid, name=person.name, tz=person.tz or "UTC")
        self.settings = Settings(slack_bot_token=TOKEN, slack_signing_secret=SIGNING_SECRET,
                                 slack_api_url=self.slack.api_url, **self.env)
        with session_scope(self.engine) as s:
            sync_workspace(s, self.ws)
        self.rt = Runtime(engine=self.engine, workspace=self.ws, settings=self.settings, clock=self.clock)
        self.services = build_services(self.engine, self.ws, self.settings, runtime=self.rt)
        assert self.services.deliverer is not None
        self.deliverer = self.services.deliverer
        self.deliverer.ports["slack"].per_channel_gap = self.pacing  # type: ignore[attr-defined]
        # An unanswered send may land this long after the client gave up (the stand-in's delays in
        # these tests are shorter); production waits longer (SlackPort's SETTLE).
        self.deliverer.ports["slack"].settle = SETTLE  # type: ignore[attr-defined]
        # No background worker: tests deliver explicitly so every assertion sees a settled state.
        self.services.run_worker = False
        self.server = TestServer(build_web_app(self.services), host="127.0.0.1", port=0)
        await self.server.start_server()
        self.url = str(self.server.make_url(""))
        self.sender = SlackSender(str(self.server.make_url("/slack/events")), SIGNING_SECRET,
                                  response_base=self.slack.response_base)
        await self.sender.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.sender.__aexit__()
        await self.server.close()
        await self.slack.close()

    async def click(self, user: str, message: dict[str, Any], action_id: str, *, channel: str = "C0SUPPORT",
                    **kw: Any) -> Any:
        """Click as `user`, then wait for the work the click started (after its ack) to finish."""
        reply = await self.sender.click(user, message, action_id, channel=channel, **kw)
        await self.rt.wait_idle()
        return reply

    async def submit(self, user: str, view: dict[str, Any], values: dict[str, Any], **kw: Any) -> Any:
        reply = await self.sender.submit(user, view, values, **kw)
        await self.rt.wait_idle()
        return reply

    async def command(self, user: str, text: str, **kw: Any) -> Any:
        """`/cx` as `user`; the reply is the answer sent to the command's response_url after the ack."""
        from standins.slack_sender import SlackReply

        reply = await self.sender.command(user, text, **kw)
        assert reply.status == 200 and reply.text in ("", "null"), f"the ack should be empty: {reply.text!r}"
        await self.rt.wait_idle()
        answers = self.slack.responses(reply.response_token)
        assert len(answers) == 1, f"expected one answer to /cx {text}, got {answers}"
        body = {k: v for k, v in answers[0].items() if k not in ("token", "replace_original", "delete_original")}
        return SlackReply(200, json.dumps(body), reply.response_token)

    async def deliver(self) -> int:
        """Let acknowledged work finish, then send everything due in the outbox."""
        await self.rt.wait_idle()
        return await self.deliverer.drain()

    def outbox(self) -> list[OutboxMessage]:
        with Session(self.engine) as s:
            return list(s.exec(select(OutboxMessage).order_by(OutboxMessage.id)))

    def posted(self, channel: str) -> list[dict[str, Any]]:
        return self.slack.messages(channel)

    def alert(self, case_id: int, channel: str = "C0SUPPORT") -> dict[str, Any]:
        """The case's alert message as Slack now holds it."""
        key = f"slack:case:{case_id}:alert"
        for m in self.slack.messages(channel):
            if ((m.get("metadata") or {}).get("event_payload") or {}).get("key") == key:
                return m
        raise LookupError(f"no alert for case {case_id} in {channel}")

    def thread(self, case_id: int, channel: str = "C0SUPPORT") -> list[dict[str, Any]]:
        parent = self.alert(case_id, channel)
        return [m for m in self.slack.messages(channel) if m.get("thread_ts") == parent["ts"] and m["ts"] != parent["ts"]]

    def last_modal(self) -> dict[str, Any]:
        calls = self.slack.calls_to("views.open")
        assert calls, "no modal was opened"
        return calls[-1].body["view"]

    def ephemerals_for(self, user: str) -> list[str]:
        return [c.body.get("text", "") for c in self.slack.calls_to("chat.postEphemeral") if c.body.get("user") == user]


def text_of(message: dict[str, Any]) -> str:
    """Everything a person would read in a Slack message, as one string."""
    return json.dumps(message.get("blocks", []), ensure_ascii=False) + message.get("text", "")
