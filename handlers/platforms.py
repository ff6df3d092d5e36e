"""Which chat platforms this process can deliver to, built from the settings, and the outbox worker for them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from bot.config import Settings, Workspace
from bot.machinery.outbox import ChatPort, Deliverer
from bot.machinery.runtime import Runtime


def delivery_ports(settings: Settings, *, engine: Engine | None = None, teams: Any = None,
                   workspace: Workspace | None = None) -> list[ChatPort]:
    """One port per configured platform (Teams needs the engine: its conversation references are stored),
    and the outgoing webhook's when the workspace has `outgoing`."""
    ports: list[ChatPort] = []
    if workspace is not None and workspace.outgoing is not None:
        from handlers.outgoing.port import WebhookPort

        out = workspace.outgoing
        ports.append(WebhookPort(out.url, out.secret, timeout=out.timeout.total_seconds()))
    if settings.slack_bot_token:
        from handlers.slack.client import web_client
        from handlers.slack.port import SlackPort

        # The outbox does its own retrying and pacing; the SDK's retry handlers would double it.
        ports.append(SlackPort(web_client(settings.slack_bot_token, settings.slack_api_url, retries=False)))
    if teams is not None:
        ports.append(teams.port)  # the server's own, sharing its adapter with /api/messages
    elif engine is not None:
        from handlers.teams import teams_mode

        if teams_mode(settings):
            from handlers.teams.adapter import build_adapter
            from handlers.teams.port import TeamsPort

            ports.append(TeamsPort(build_adapter(settings), engine, app_id=settings.teams_app_id))
    return ports


def home_payload(rt: Runtime, row) -> dict | None:  # type: ignore[no-untyped-def]
    """The App Home for a queued refresh, built from the database at delivery time."""
    if row.action != "home":
        return None
    from sqlmodel import Session, select

    from bot.console.home import home_view
    from bot.people.roster import actor_for
    from storage.models import Member

    with Session(rt.engine) as s:
        m = s.exec(select(Member).where(Member.slack_user_id == row.target)).first()
        if m is None:
            return None
        return home_view(s, rt.workspace, actor_for(s, m), now=rt.now()).model_dump(mode="json")


def make_deliverer(rt: Runtime, *, teams: Any = None) -> Deliverer | None:
    """The outbox worker for every configured platform, or None when there is none."""
    ports = delivery_ports(rt.settings, engine=rt.engine, teams=teams, workspace=rt.base_workspace)
    if not ports:
        return None
    return Deliverer(rt.engine, ports, prepare=lambda row: home_payload(rt, row), run=rt.blocking)
