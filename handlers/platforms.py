"""Which chat platforms this process can deliver to, built from the settings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from bot.config import Settings, Workspace
from bot.machinery.outbox import ChatPort


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
