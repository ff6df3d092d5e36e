"""`cxloop serve`: wire the runtime, Slack, delivery and the scheduler, then serve HTTP."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
from datetime import datetime, timezone
from typing import Any

from aiohttp import web
from sqlalchemy import Engine

from bot.config import Settings, Workspace
from bot.machinery.runtime import Runtime
from handlers.platforms import make_deliverer
from handlers.server import Services, build_web_app, listen_for_work

log = logging.getLogger(__name__)


ROLES = ("all", "web", "worker")


def freeze_start_up_heap() -> int:
    """Leave what start-up built out of every later full garbage collection; returns how many
    objects that is.

    A full collection walks every object the collector tracks, and nothing else runs meanwhile: in a
    started server (SQLAlchemy, Bolt, botbuilder, the workspace) that took 100-140 ms, during which no
    request was acknowledged (bench/README.md, "fifth pass"). Start-up's objects live
    as long as the process, so they are frozen (gc.freeze) once, after start-up: later collections
    walk only what was made since."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def build_services(engine: Engine, ws: Workspace, settings: Settings, *, runtime: Runtime | None = None,
                   teams_auth: Any = None, role: str = "all") -> Services:
    """Everything one process runs, from the settings (`teams_auth`: token endpoints for tests).

    role "all": one process does everything. "web": HTTP only; Slack and Teams requests are stored
    and acknowledged for worker processes, which handle them, deliver the outbox and run the
    scheduler ("worker").
    """
    from handlers.teams import build_teams

    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    from bot import wiring

    wiring.load()  # a feature module that is missing or broken stops the start, naming itself
    rt = runtime or Runtime(engine=engine, workspace=ws, settings=settings)
    if role == "worker":
        rt.work_on_loop()  # no one waits on a worker's loop: its database steps skip the thread hop
    services = Services(runtime=rt, role=role)
    # Requests from both chats are stored together (group commit), and handled by one inbox worker.
    from bot.machinery.inbox import Handler, InboxWorker
    from bot.machinery.inbox_writer import HandleSoon, InboxWriter, by_platform

    writer = InboxWriter(engine, rt.for_ack)
    handlers: dict[str, Handler] = {}
    soon: list[HandleSoon] = []  # one-process mode: handle what was just stored, at once

    def stored() -> None:
        for handle_soon in soon:
            handle_soon()

    on_stored = stored if role == "all" else None
    # Teams: the server process answers /api/messages; the inbox worker handles what it stored, and
    # worker processes deliver through the adapter.
    teams = build_teams(rt, auth=teams_auth)
    if teams is not None:
        from handlers.teams.inbox import TeamsInbox

        services.teams_adapter, services.teams_bot = teams.adapter, teams.bot
        services.teams_inbox = TeamsInbox(rt, teams.adapter, teams.bot, writer=writer, on_stored=on_stored)
        if role != "web":
            handlers["teams"] = services.teams_inbox.handle
    if role != "web":
        services.deliverer = make_deliverer(rt, teams=teams)
        if services.deliverer is not None:
            rt.on_queued.append(services.deliverer.nudge)
    if settings.slack_bot_token and (settings.slack_signing_secret or settings.slack_app_token):
        from handlers.slack.app import build_app
        from handlers.slack.direct import direct_routes
        from handlers.slack.inbox import SlackInbox

        def app(worker: bool, first: Any = None):  # type: ignore[no-untyped-def]
            return build_app(rt, token=settings.slack_bot_token,  # type: ignore[arg-type]
                             signing_secret=settings.slack_signing_secret or "socket-mode",
                             api_url=settings.slack_api_url, worker=worker, first=first)

        worker_app = app(worker=True) if role != "web" else None
        direct = direct_routes(rt, token=settings.slack_bot_token,  # type: ignore[arg-type]
                               api_url=settings.slack_api_url) if worker_app is not None else None
        services.slack_inbox = SlackInbox(rt, worker_app, writer=writer, on_stored=on_stored, direct=direct)
        if role != "worker":
            services.slack_app = app(worker=False, first=services.slack_inbox.install)
        if worker_app is not None:
            handlers["slack"] = services.slack_inbox.handle
    if handlers:
        services.inbox_worker = InboxWorker(engine, by_platform(handlers), run=rt.blocking)
        if role == "all":
            soon.append(HandleSoon(services.inbox_worker, rt.track))
    return services


async def serve(engine: Engine, ws: Workspace, settings: Settings, *, host: str, port: int, workers: int = 1,
                worker_argv: list[str] | None = None) -> None:
    """The HTTP server; with `workers` > 0, that many worker processes (`worker_argv`) beside it,
    restarted if they die, stopped with it."""
    services = build_services(engine, ws, settings, role="web" if workers else "all")
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
    from handlers.webhooks import describe_intake, warn_if_unsigned

    print(f"cxloop listening on http://{host}:{port} "
          f"(slack: {'socket mode' if socket_handler else ('http' if services.slack_app else 'off')}, "
          f"teams: {describe_mode(settings)}, worker processes: {workers})", flush=True)
    print(f"webhooks: {describe_intake(settings)}", flush=True)
    warn_if_unsigned(settings)
    if socket_handler is not None:
        await socket_handler.connect_async()
    stop = _stop_on_signals()
    pool = WorkerPool(worker_argv or [sys.executable, "-m", "handlers.cli", "work"], workers)
    scheduler = None if workers else start_scheduler(engine, ws, settings, services)
    freeze_start_up_heap()
    supervisor = asyncio.create_task(pool.supervise())
    try:
        await stop.wait()
    finally:
        supervisor.cancel()
        await pool.stop()
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        if socket_handler is not None:
            await socket_handler.close_async()
        await runner.cleanup()


async def work(engine: Engine, ws: Workspace, settings: Settings) -> None:
    """A worker process: handle stored chat requests, deliver the outbox, run the scheduler."""
    services = build_services(engine, ws, settings, role="worker")
    tasks = []
    listener = listen_for_work(engine, services)
    if listener is not None:
        tasks.append(asyncio.create_task(listener.run()))
    # Woken by notifications, a worker only polls as a fallback (and for retries coming due).
    inbox_poll, outbox_poll = (LISTENING_POLL, LISTENING_POLL) if listener else (INBOX_POLL, OUTBOX_POLL)
    if services.inbox_worker is not None:
        tasks.append(asyncio.create_task(services.inbox_worker.run_forever(poll=inbox_poll)))
    if services.deliverer is not None:
        tasks.append(asyncio.create_task(services.deliverer.run_forever(poll=outbox_poll)))
    stop = _stop_on_signals()
    scheduler = start_scheduler(engine, ws, settings, services)
    print(f"cxloop worker {os.getpid()} running (slack: {'on' if services.slack_inbox else 'off'}, "
          f"teams: {'on' if services.teams_inbox else 'off'}, "
          f"delivery: {'on' if services.deliverer else 'off'}, "
          f"wake-ups: {'LISTEN/NOTIFY' if listener else 'polling'})", flush=True)
    freeze_start_up_heap()
    try:
        await stop.wait()
    finally:
        scheduler.shutdown(wait=False)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        from handlers.slack.client import close_loop_session

        await close_loop_session()  # the kept-alive connections to Slack, if any call opened them


# A worker process polls for what other processes stored or queued (in one process, the worker is
# woken directly instead). On PostgreSQL a notification wakes it at once, and it polls only as a
# fallback and for retries coming due.
INBOX_POLL = 0.1
OUTBOX_POLL = 0.25
LISTENING_POLL = 2.0


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except NotImplementedError:  # pragma: no cover
            pass
    return stop


class WorkerPool:
    """`n` copies of a worker command, each restarted (after a pause) when it exits."""

    def __init__(self, argv: list[str], n: int, *, env: dict[str, str] | None = None):
        self.argv = argv
        self.n = n
        self.env = env
        self.procs: list[asyncio.subprocess.Process] = []

    async def _start(self) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(*self.argv, env=self.env)

    async def supervise(self) -> None:
        self.procs = [await self._start() for _ in range(self.n)]
        while self.procs:
            await asyncio.sleep(1.0)
            for i, p in enumerate(self.procs):
                if p.returncode is not None:
                    log.error("worker process %s exited with %s; starting another", p.pid, p.returncode)
                    await asyncio.sleep(2.0)
                    self.procs[i] = await self._start()

    async def stop(self, timeout: float = 20.0) -> None:
        procs, self.procs = self.procs, []
        for p in procs:
            if p.returncode is None:
                p.terminate()
        for p in procs:
            try:
                await asyncio.wait_for(p.wait(), timeout)
            except (TimeoutError, asyncio.TimeoutError):
                p.kill()
                await p.wait()


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
    # tick coalesces into one run, and the work itself is claimed in the database. The trigger runs on
    # APScheduler's own (wall) clock; what a tick does reads the process clock (storage/clock.py).
    scheduler.add_job(tick, "interval", seconds=60, id="cxloop-run-due", replace_existing=True, coalesce=True,
                      max_instances=1, misfire_grace_time=300, next_run_time=datetime.now(timezone.utc))
    scheduler.start()
    return scheduler
