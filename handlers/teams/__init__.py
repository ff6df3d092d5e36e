"""Microsoft Teams: the botbuilder adapter, activity handler, card renderer, delivery port and app package.

The only package that imports botbuilder (see `adapter.py` for why that matters). `build_teams`
wires the pieces one `cxloop serve` (or `cxloop run-due`) needs; `server.py` mounts
`POST /api/messages` and `platforms.py` registers the port.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from bot.config import Settings
from bot.machinery.runtime import Runtime

log = logging.getLogger(__name__)

NO_AUTH_ENV = "TEAMS_ALLOW_NO_AUTH"


def no_auth_requested(settings: Settings) -> bool:
    """TEAMS_ALLOW_NO_AUTH=1 (a settings field once bot/config.py has one, else the environment)."""
    value = getattr(settings, "teams_allow_no_auth", None)
    if value is None:
        value = os.environ.get(NO_AUTH_ENV, "")
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def teams_mode(settings: Settings) -> str | None:
    """'auth' (TEAMS_APP_ID is set), 'no-auth' (explicit local testing) or None (Teams is off).

    Decided without importing botbuilder, so a Slack-only server never loads it.
    """
    if settings.teams_app_id:
        return "auth"
    if no_auth_requested(settings):
        return "no-auth"
    return None


def describe_mode(settings: Settings) -> str:
    """For the start-up line: on, UNAUTHENTICATED, or off."""
    return {"auth": "on", "no-auth": "on, UNAUTHENTICATED (local testing only)"}.get(teams_mode(settings) or "", "off")


@dataclass
class TeamsStack:
    """The adapter (shared by inbound requests and proactive delivery), the bot and the outbox port."""

    adapter: Any
    bot: Any
    port: Any
    authenticated: bool


def build_teams(rt: Runtime, *, auth: Any = None, welcome: bool = True) -> TeamsStack | None:
    """The Teams pieces for this process, or None when Teams is not configured (see adapter.teams_mode)."""
    settings = rt.settings
    mode = teams_mode(settings)
    if mode is None:
        if settings.teams_app_password or settings.teams_app_tenant_id:
            log.warning("Teams is off: TEAMS_APP_PASSWORD or TEAMS_APP_TENANT_ID is set but TEAMS_APP_ID is not.")
        return None
    from handlers.teams.adapter import build_adapter, warn_at_start

    warn_at_start(settings)
    from handlers.teams.bot import CxTeamsBot
    from handlers.teams.people import link_members, yaml_links
    from handlers.teams.port import TeamsPort

    adapter = build_adapter(settings, auth)

    async def on_error(turn_context: Any, error: Exception) -> None:
        log.error("teams: unhandled error in a turn (%s): %r", turn_context.activity.type, error, exc_info=error)

    adapter.on_turn_error = on_error
    links = yaml_links(rt.base_workspace)
    if links:
        rt.transaction(lambda s: link_members(s, links))
    return TeamsStack(adapter=adapter, bot=CxTeamsBot(rt, welcome=welcome),
                      port=TeamsPort(adapter, rt.engine, app_id=settings.teams_app_id),
                      authenticated=mode == "auth")
