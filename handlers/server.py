"""`cxloop serve`: one aiohttp server for Slack, Teams, survey webhooks and health checks."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy import Engine

from bot.machinery.outbox import Deliverer
from bot.machinery.runtime import Runtime
from handlers.body import MAX_BODY
from storage import listen
from storage.db import ping
from storage.listen import Listener

log = logging.getLogger(__name__)

RUNTIME = web.AppKey("runtime", Runtime)


@dataclass
class Services:
    """What one server process runs beside its routes."""

    runtime: Runtime
    deliverer: Deliverer | None = None
    slack_app: Any = None
    slack_over_http: bool = True
    teams_adapter: Any = None  # botbuilder CloudAdapter; POST /api/messages is served when set
    teams_bot: Any = None
    run_worker: bool = True
    role: str = "all"
    slack_inbox: Any = None  # handlers.slack.inbox.SlackInbox
    teams_inbox: Any = None  # handlers.teams.inbox.TeamsInbox
    inbox_worker: Any = None  # bot.inbox.InboxWorker, in processes that handle stored requests
    background: list[asyncio.Task[Any]] = field(default_factory=list)


async def healthz(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    ok = await asyncio.to_thread(ping, rt.engine)
    return web.json_response({"status": "ok" if ok else "degraded", "database": "reachable" if ok else "unreachable"},
                             status=200 if ok else 503)


def build_web_app(services: Services) -> web.Application:
    """The routes; Slack and Teams are mounted only when configured."""
    # Every route reads its whole body with handlers.body.read_body, which answers 413 past 1 MiB.
    app = web.Application(client_max_size=MAX_BODY)
    app[RUNTIME] = services.runtime
    app.router.add_get("/healthz", healthz)
    from handlers import webhooks

    webhooks.add_routes(app, services.runtime)
    if services.slack_app is not None and services.slack_over_http:
        from handlers.slack.http import add_routes as add_slack

        add_slack(app, services.slack_app, services.slack_inbox,
                  signing_secret=services.runtime.settings.slack_signing_secret or "")
    if services.teams_adapter is not None:
        from handlers.teams.http import add_routes as add_teams

        settings = services.runtime.settings
        add_teams(app, services.teams_adapter, services.teams_bot, authenticated=bool(settings.teams_app_id),
                  tenant_id=settings.teams_app_tenant_id, inbox=services.teams_inbox)

    async def start_background(app: web.Application) -> None:
        if not services.run_worker:
            return
        if services.deliverer is not None:
            services.background.append(asyncio.create_task(services.deliverer.run_forever()))
        if services.inbox_worker is not None:
            # Requests are handled as they are stored; this picks up any a restart left behind.
            services.background.append(asyncio.create_task(services.inbox_worker.run_forever(poll=5.0)))
        listener = listen_for_work(services.runtime.engine, services)
        if listener is not None:
            # Other replicas' work too, on PostgreSQL (this process's own wakes its workers directly).
            services.background.append(asyncio.create_task(listener.run()))

    async def stop_background(app: web.Application) -> None:
        for t in services.background:
            t.cancel()
        await asyncio.gather(*services.background, return_exceptions=True)
        services.background.clear()
        from handlers.slack.client import close_loop_session

        await close_loop_session()  # the kept-alive connections to Slack, if any call opened them

    app.on_startup.append(start_background)
    app.on_cleanup.append(stop_background)
    return app


def listen_for_work(engine: Engine, services: Services) -> Listener | None:
    """On PostgreSQL, a listener that wakes this process's workers when any process stores or queues work."""
    if not listen.supported(engine):
        return None
    listener = Listener(engine)
    if services.deliverer is not None:
        listener.on(listen.OUTBOX_CHANNEL, services.deliverer.nudge)
    if services.inbox_worker is not None:
        listener.on(listen.INBOX_CHANNEL, services.inbox_worker.nudge)
    return listener if listener.callbacks else None
