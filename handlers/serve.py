"""`cxloop serve`: wire the runtime, Slack, delivery and the scheduler, then serve HTTP."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import datetime, timezone
from typing import Any

from aiohttp import web
from sqlalchemy import Engine

from bot.config import Settings, Workspace
from bot.outbox import Deliverer
from bot.runtime import Runtime
from handlers.platforms import delivery_ports
from handlers.server import Services, build_web_app

log = logging.getLogger(__name__)


def home_payload(rt: Runtime, row) -> dict | None:  # type: ignore[no-untyped-def]
    """The App Home for a queued refresh, built from the database at delivery time."""
    if row.action != "home":
        return None
    from sqlmodel import Session, select

    from bot.home import home_view
    from bot.roster import actor_for
    from storage.models import Member

    with Session(rt.engine) as s:
        m = s.exec(select(Member).where(Member.slack_user_id == row.target)).first()
        if m is None:
            return None
        return home_view(s, rt.workspace, actor_for(s, m), now=rt.now()).model_dump(mode="json")


def make_deliverer(rt: Runtime, *, teams: Any = None) -> Deliverer | None:
    """The outbox worker for every configured platform, or None when there is none."""
    ports = delivery_ports(rt.settings, engine=rt.engine, teams=teams)
    if not ports:
        return None
    return Deliverer(rt.engine, ports, prepare=lambda row: home_payload(rt, row))


def build_services(engine: Engine, ws: Workspace, settings: Settings, *, runtime: Runtime | None = None,
                   teams_auth: Any = None) -> Services:
    """Everything one server process runs, from the settings (`teams_auth`: token endpoints for tests)."""
    from handlers.teams import build_teams

    rt = runtime or Runtime(engine=engine, workspace=ws, settings=settings)
    services = Services(runtime=rt)
    teams = build_teams(rt, auth=teams_auth)
    if teams is not None:
        services.teams_adapter, services.teams_bot = teams.adapter, teams.bot
    services.deliverer = make_deliverer(rt, teams=teams)
    if services.deliverer is not None:
        rt.on_queued.append(services.deliverer.nudge)
    if settings.slack_bot_token and (settings.slack_signing_secret or settings.slack_app_token):
        from handlers.slack.app import build_app

        services.slack_app = build_app(rt, token=settings.slack_bot_token,
                                       signing_secret=settings.slack_signing_secret or "socket-mode",
                                       api_url=settings.slack_api_url)
    return services


async def serve(engine: Engine, ws: Workspace, settings: Settings, *, host: str, port: int) -> None:
    services = build_services(engine, ws, settings)
    socket_handler = None
    if settings.slack_app_token and services.slack_app is not None:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        socket_handler = AsyncSocketModeHandler(services.slack_app, settings.slack_app_token)
        # Socket Mode: Slack reaches us over a WebSocket, not at /slack/events.
        services.slack_over_http = False
    app = build_web_app(services)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    from handlers.teams import describe_mode

    print(f"cxloop listening on http://{host}:{port} "
          f"(slack: {'socket mode' if socket_handler else ('http' if services.slack_app else 'off')}, "
          f"teams: {describe_mode(settings)})", flush=True)
    if socket_handler is not None:
        await socket_handler.connect_async()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except NotImplementedError:  # pragma: no cover
            pass
    scheduler = start_scheduler(engine, ws, settings, services)
    try:
        await stop.wait()
    finally:
        scheduler.shutdown(wait=False)
        if socket_handler is not None:
            await socket_handler.close_async()
        await runner.cleanup()


def start_scheduler(engine: Engine, ws: Workspace, settings: Settings, services: Services):  # type: ignore[no-untyped-def]
    """APScheduler, in this event loop: every minute, do what the database says is due."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from handlers.jobs import run_due

    async def tick() -> None:
        try:
            await run_due(engine, ws, settings, deliverer=services.deliverer)
        except Exception:
            log.exception("scheduled run-due failed; the next tick retries")

    scheduler = AsyncIOScheduler(timezone="UTC")
    # A stable id and replace_existing: restarting never stacks a second copy of the job; a missed
    # tick coalesces into one run, and the work itself is claimed in the database.
    scheduler.add_job(tick, "interval", seconds=60, id="cxloop-run-due", replace_existing=True, coalesce=True,
                      max_instances=1, misfire_grace_time=300, next_run_time=datetime.now(timezone.utc))
    scheduler.start()
    return scheduler
