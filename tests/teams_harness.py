"""A running cxloop (HTTP server, outbox worker) wired to the local Bot Connector stand-in, for tests.

Real botbuilder classes throughout: the CloudAdapter validates the stand-in's signed tokens against
its published keys, and posts through the real ConnectorClient with tokens from its token service.
"""

from __future__ import annotations

import os
from typing import Any

from aiohttp.test_utils import TestServer
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.config import Settings, Workspace, load_workspace, parse_workspace
from bot.machinery.runtime import Runtime
from bot.people.roster import sync_workspace
from handlers.serve import build_services
from handlers.server import build_web_app
from handlers.teams import NO_AUTH_ENV
from handlers.teams.people import link_members
from standins.bot_connector import BotConnectorStandIn
from standins.teams_cards import card_of, text_of
from standins.teams_tenant import TENANT_ID
from storage.db import session_scope
from storage.models import ConversationRef, OutboxMessage
from tests.harness import Clock

APP_ID = "3f1d5c9e-2b7a-4e21-9c0d-00000000c100"
APP_PASSWORD = "stand-in-client-secret"
WEBHOOK_SECRET = "teams-harness-webhook-secret"  # CXLOOP_WEBHOOK_SECRET, for surveys posted to /webhooks/generic
TEAM = "19:general-cx@thread.tacv2"  # a team's id is its General channel's id
SUPPORT = "19:support-cx@thread.tacv2"
BILLING = "19:billing-cx@thread.tacv2"
DELIVERY = "19:delivery-cx@thread.tacv2"

# Slack id (the sample workspace) -> (Entra object id, name): the `teams_members` links.
PEOPLE = {
    "U0ADMIN": ("0a000000-0000-4000-8000-00000000ad01", "Ada Admin"),
    "U0MANAGER": ("0a000000-0000-4000-8000-0000000000a1", "Morgan Lee"),
    "U0ALICE": ("0a000000-0000-4000-8000-0000000000a2", "Alice Martin"),
    "U0BOB": ("0a000000-0000-4000-8000-0000000000a3", "Bob Okafor"),
    "U0CARLOS": ("0a000000-0000-4000-8000-0000000000a4", "Carlos Ruiz"),
    "U0PRIYA": ("0a000000-0000-4000-8000-0000000000a5", "Priya Nair"),
    "U0MEERA": ("0a000000-0000-4000-8000-0000000000a6", "Meera Shah"),
}
OUTSIDER = ("0a000000-0000-4000-8000-0000000000ff", "Olive Outsider")  # in the team, in no cxloop team

MANAGER, ALICE, BOB, CARLOS, PRIYA = (PEOPLE[k][0] for k in ("U0MANAGER", "U0ALICE", "U0BOB", "U0CARLOS", "U0PRIYA"))


def teams_workspace(*, slack_too: bool = False) -> Workspace:
    """The sample workspace with each team's Teams channel (and, unless asked, no Slack channels)."""
    data = load_workspace().model_dump(mode="json")
    for t in data["teams"]:
        t["teams_channel"] = {"support": SUPPORT, "billing": BILLING, "delivery": DELIVERY}[t["key"]]
        if not slack_too:
            t["slack_channel"] = None
    return parse_workspace(data)


class TeamsHarness:
    def __init__(self, engine: Engine, *, workspace: Workspace | None = None, auth: bool = True,
                 pacing: float = 0.0, enforce_rate: bool = False, welcome: bool = True,
                 auth_overrides: dict[str, Any] | None = None):
        self.engine = engine
        self.ws = workspace or teams_workspace()
        self.auth = auth
        self.pacing = pacing
        self.enforce_rate = enforce_rate
        self.welcome = welcome
        self.auth_overrides = auth_overrides or {}
        self.clock = Clock()
        self._env_before: str | None = None

    async def __aenter__(self) -> TeamsHarness:
        self._stand_in = BotConnectorStandIn.in_thread(app_id=APP_ID if self.auth else None,
                                                       app_password=APP_PASSWORD, enforce_rate=self.enforce_rate)
        self.teams = self._stand_in.__enter__()
        for aad, name in [*PEOPLE.values(), OUTSIDER]:
            self.teams.add_user(aad, name)
        self.teams.add_team(TEAM, "Customer Experience",
                            channels={SUPPORT: "Support", BILLING: "Billing", DELIVERY: "Delivery"},
                            members=[aad for aad, _ in [*PEOPLE.values(), OUTSIDER]])
        if self.auth:
            self.settings = Settings(teams_app_id=APP_ID, teams_app_password=APP_PASSWORD,
                                     teams_app_tenant_id=TENANT_ID, teams_app_type="SingleTenant",
                                     cxloop_webhook_secret=WEBHOOK_SECRET)
        else:
            self._env_before = os.environ.get(NO_AUTH_ENV)
            os.environ[NO_AUTH_ENV] = "1"
            self.settings = Settings(cxloop_webhook_secret=WEBHOOK_SECRET)
        with session_scope(self.engine) as s:
            sync_workspace(s, self.ws)
            link_members(s, {aad: slack for slack, (aad, _) in PEOPLE.items()})
        self.rt = Runtime(engine=self.engine, workspace=self.ws, settings=self.settings, clock=self.clock)
        from handlers.teams.adapter import TeamsAuth

        auth = TeamsAuth(**{**self.teams.bot_auth(), **self.auth_overrides}) if self.auth else None
        self.services = build_services(self.engine, self.ws, self.settings, runtime=self.rt, teams_auth=auth)
        assert self.services.deliverer is not None and self.services.teams_adapter is not None
        self.services.teams_bot.welcome = self.welcome
        # Teams activities are handled after their 200 (the inbox): each post waits for that work.
        self.teams.after_post = self.rt.wait_idle
        self.deliverer = self.services.deliverer
        self.port = self.deliverer.ports["teams"]
        self.port.per_conversation_gap = self.pacing  # type: ignore[attr-defined]
        self.services.run_worker = False  # tests deliver explicitly, so every assertion sees a settled state
        self.server = TestServer(build_web_app(self.services), host="127.0.0.1", port=0)
        await self.server.start_server()
        self.bot_url = str(self.server.make_url("/api/messages"))
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.server.close()
        finally:
            self._stand_in.__exit__(None, None, None)
            if not self.auth:
                if self._env_before is None:
                    os.environ.pop(NO_AUTH_ENV, None)
                else:
                    os.environ[NO_AUTH_ENV] = self._env_before

    # --- Teams side ----------------------------------------------------------------------

    async def install(self) -> None:
        status, _ = await self.teams.install_in_team(self.bot_url, TEAM, by=MANAGER)
        assert status < 300, status

    async def deliver(self) -> int:
        return await self.deliverer.drain()

    def outbox(self) -> list[OutboxMessage]:
        with Session(self.engine) as s:
            return list(s.exec(select(OutboxMessage).order_by(OutboxMessage.id)))

    def refs(self) -> list[ConversationRef]:
        with Session(self.engine) as s:
            return list(s.exec(select(ConversationRef).order_by(ConversationRef.id)))

    def sent(self, key: str) -> OutboxMessage:
        for row in self.outbox():
            if row.dedupe_key == key:
                return row
        raise LookupError(key)

    def alert(self, case_id: int, channel: str = SUPPORT) -> dict[str, Any]:
        """The case's alert as Teams now holds it."""
        row = self.sent(f"teams:case:{case_id}:alert")
        assert row.status == "sent", (row.status, row.last_error)
        return self.teams.activity(channel, row.sent_ref or "")

    def thread(self, case_id: int, channel: str = SUPPORT) -> list[dict[str, Any]]:
        return self.teams.thread(channel, self.alert(case_id, channel)["id"])

    def dm(self, aad: str) -> list[dict[str, Any]]:
        chat = self.teams.personal_chat(aad)
        return self.teams.activities(chat) if chat else []

    async def click(self, aad: str, activity: dict[str, Any], title: str) -> Any:
        status, body = await self.teams.click(self.bot_url, aad, activity["conversationId"], activity["id"], title)
        assert status == 200, (status, body)
        return body

    async def submit(self, aad: str, dialog: Any, inputs: dict[str, Any], activity: dict[str, Any]) -> Any:
        status, body = await self.teams.submit(self.bot_url, aad, dialog, inputs,
                                               conversation_id=activity["conversationId"], activity_id=activity["id"])
        assert status == 200, (status, body)
        return body


def dialog_card(body: Any) -> dict[str, Any]:
    """The card a dialog response shows."""
    return body["task"]["value"]["card"]["content"]


def dialog_message(body: Any) -> str | None:
    task = (body or {}).get("task") or {}
    return task.get("value") if task.get("type") == "message" else None


__all__ = ["TeamsHarness", "teams_workspace", "dialog_card", "dialog_message", "card_of", "text_of", "APP_ID",
           "WEBHOOK_SECRET", "TEAM", "SUPPORT", "BILLING", "PEOPLE", "OUTSIDER", "MANAGER", "ALICE", "BOB", "CARLOS", "PRIYA"]
