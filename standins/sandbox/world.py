"""Everything the sandbox runs, on 127.0.0.1: cxloop's server, the Slack and Bot Connector stand-ins, a clock.

cxloop is wired exactly as `cxloop serve` wires it (`handlers.serve.build_services` and
`handlers.server.build_web_app`, one process doing everything), with Slack and Teams both on, on a
fresh SQLite file holding the bundled sample (bot/data/). The only differences from production are
the ones the tests and `cxloop demo` make too: the Web API and the Bot Connector are the local
stand-ins, the process clock is one the page can move, and messages are not paced (a sandbox with
a single person clicking has no rate limit to respect).
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import func, or_
from sqlmodel import Session, select

from bot.config import DATA, Settings, Workspace, load_workspace, parse_workspace
from bot.machinery.runtime import Runtime
from bot.people.roster import actor_for, sync_workspace
from storage import clock as process_clock
from storage.db import make_engine, session_scope, upgrade
from storage.models import Member, OutboxMessage

log = logging.getLogger(__name__)

SAMPLE = DATA / "sample_responses.csv"
# The sample ends on Friday 20 November 2026; the sandbox starts that afternoon, as the demo does.
START = datetime(2026, 11, 20, 15, 30, tzinfo=timezone.utc)
TOKEN, SIGNING_SECRET, WEBHOOK_SECRET = "xoxb-sandbox", "sandbox-signing-secret", "sandbox-webhook-secret"
TEAMS_APP_ID = "5a4d0b0c-0000-4000-8000-00000000cx10"
TEAMS_APP_PASSWORD = "sandbox-client-secret"
TEAMS_TEAM = "19:general-cx@thread.tacv2"  # a Teams team's id is its General channel's id
TEAMS_TEAM_NAME = "Customer Experience"


def aad_of(slack_id: str) -> str:
    """A stable Entra object id for a sample person (the sandbox's `teams_members` link)."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"cxloop-sandbox:{slack_id}"))


def teams_channel_of(team_key: str) -> str:
    return f"19:{team_key}-cx@thread.tacv2"


def sandbox_workspace(base: Workspace | None = None) -> Workspace:
    """The bundled sample workspace with a Teams channel per team and every person linked on both platforms."""
    data = (base or load_workspace()).model_dump(mode="json")
    for t in data["teams"]:
        t["teams_channel"] = teams_channel_of(t["key"])
    data["teams_members"] = {aad_of(uid): uid for uid in data.get("people") or {}}
    return parse_workspace(data, origin="sandbox workspace")


class SandboxClock:
    """The process clock while the sandbox runs (storage/clock.py): it starts at `start`, runs at the
    wall clock's pace and jumps forward when the page moves it.

    It remembers every jump, so a stand-in's wall-clock timestamp (a Slack `ts`, a Teams activity's
    timestamp) reads back as the sandbox time it was made at.
    """

    def __init__(self, start: datetime):
        self._lock = threading.Lock()
        self._walls: list[float] = [time.time()]
        self._starts: list[datetime] = [start.astimezone(timezone.utc)]

    def __call__(self) -> datetime:
        with self._lock:
            return self._starts[-1] + timedelta(seconds=time.time() - self._walls[-1])

    def jump(self, to: datetime) -> None:
        """Move the clock to `to`; it only moves forward (what cxloop did already happened)."""
        to = to.astimezone(timezone.utc)
        now = self()
        if to < now - timedelta(seconds=1):
            raise ValueError(f"the clock only moves forward: it is already {now:%Y-%m-%d %H:%M} UTC")
        with self._lock:
            self._walls.append(time.time())
            self._starts.append(max(to, now))

    def at_wall(self, epoch: float) -> datetime:
        """The sandbox time at wall-clock instant `epoch` (seconds)."""
        with self._lock:
            i = max(bisect.bisect_right(self._walls, epoch) - 1, 0)
            return self._starts[i] + timedelta(seconds=max(epoch - self._walls[i], 0.0))


@dataclass(frozen=True)
class Person:
    """Someone in the sample workspace, as the page's person switcher shows them."""

    slack_id: str
    aad: str
    name: str
    tz: str


class Sandbox:
    """cxloop, the stand-ins and the page's API, started and stopped together."""

    def __init__(self, *, db_path: Path | str = "cxloop-sandbox.db", port: int = 0, host: str = "127.0.0.1",
                 node_modules: Path | None = None):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the sandbox listens on 127.0.0.1 only")
        self.db_path = Path(db_path)
        self.port = port
        self.host = host
        self.node_modules = node_modules
        self.clock = SandboxClock(START)
        self.ws = sandbox_workspace()
        self.people = [Person(uid, aad_of(uid), p.name, p.tz or self.ws.timezone) for uid, p in self.ws.people.items()]
        self._runners: list[web.AppRunner] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._previous_clock: process_clock.Clock | None = None
        self._teams_cm: Any = None
        self.changes = 0  # bumped on every change the sandbox itself makes (the page polls the stand-ins too)
        self.closing = asyncio.Event()  # ends the page's event streams, so shutdown does not wait on them

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        from handlers.serve import build_services
        from handlers.server import build_web_app
        from handlers.teams.adapter import TeamsAuth
        from standins.bot_connector import BotConnectorStandIn
        from standins.sandbox.api import build_page_app
        from standins.sandbox.slack_side import SlackSide
        from standins.sandbox.teams_side import TeamsSide
        from standins.slack_api import SlackStandIn
        from standins.slack_sender import SlackSender

        self._previous_clock = process_clock.install(self.clock)
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.db_path) + suffix).unlink(missing_ok=True)
        self.db_url = f"sqlite:///{self.db_path}"
        await asyncio.to_thread(upgrade, self.db_url)
        self.engine = make_engine(self.db_url)
        with session_scope(self.engine) as s:
            sync_workspace(s, self.ws)

        self.slack = SlackStandIn(token=TOKEN)
        await self.slack.start()
        for p in self.people:
            self.slack.add_user(p.slack_id, name=p.name, tz=p.tz)
        for t in self.ws.teams:
            if t.slack_channel:
                self.slack.add_channel(t.slack_channel, name=t.key)

        # The Bot Connector stand-in needs its own thread: botbuilder fetches keys and tokens with
        # blocking calls from cxloop's event loop.
        self._teams_cm = BotConnectorStandIn.in_thread(app_id=TEAMS_APP_ID, app_password=TEAMS_APP_PASSWORD)
        self.teams = self._teams_cm.__enter__()
        for p in self.people:
            self.teams.add_user(p.aad, p.name, tz=p.tz)
        self.teams.add_team(TEAMS_TEAM, TEAMS_TEAM_NAME,
                            channels={teams_channel_of(t.key): t.title for t in self.ws.teams},
                            members=[p.aad for p in self.people])

        from standins.teams_tenant import TENANT_ID

        self.settings = Settings(
            database_url=self.db_url, cxloop_config=None, cxloop_webhook_secret=WEBHOOK_SECRET,
            slack_bot_token=TOKEN, slack_signing_secret=SIGNING_SECRET, slack_app_token=None,
            slack_api_url=self.slack.api_url, teams_app_id=TEAMS_APP_ID, teams_app_password=TEAMS_APP_PASSWORD,
            teams_app_tenant_id=TENANT_ID, teams_app_type="SingleTenant", teams_allow_no_auth=False,
            openai_api_key=None)
        self.rt = Runtime(engine=self.engine, workspace=self.ws, settings=self.settings, clock=self.clock)
        self.services = build_services(self.engine, self.ws, self.settings, runtime=self.rt,
                                       teams_auth=TeamsAuth(**self.teams.bot_auth()))
        assert self.services.deliverer is not None and self.services.teams_adapter is not None
        self.deliverer = self.services.deliverer
        self.deliverer.ports["slack"].per_channel_gap = 0.0  # type: ignore[attr-defined]
        self.deliverer.ports["teams"].per_conversation_gap = 0.0  # type: ignore[attr-defined]
        # The background loops start once Teams is installed and the sample is in (below).
        self.services.run_worker = False
        self.cx_url = await self._serve(build_web_app(self.services), 0)
        self.http = aiohttp.ClientSession()
        self.sender = SlackSender(f"{self.cx_url}/slack/events", SIGNING_SECRET, session=self.http,
                                  response_base=self.slack.response_base)
        self.bot_url = f"{self.cx_url}/api/messages"
        # Everyone has a DM with the app from the start, as in Slack (its Messages tab).
        for p in self.people:
            async with self.http.post(f"{self.slack.api_url}conversations.open", data={"users": p.slack_id},
                                      headers={"Authorization": f"Bearer {TOKEN}"}) as r:
                if not (await r.json()).get("ok"):
                    raise RuntimeError(f"could not open the DM of {p.slack_id} in the Slack stand-in")

        manager = next(p.aad for p in self.people if p.slack_id in self.ws.teams[0].managers)
        status, body = await self.teams.install_in_team(self.bot_url, TEAMS_TEAM, by=manager)
        if status >= 300:
            raise RuntimeError(f"installing cxloop in the Teams stand-in failed: {status} {body}")
        await asyncio.to_thread(self._import_sample)

        self._tasks.append(asyncio.create_task(self.deliverer.run_forever()))
        if self.services.inbox_worker is not None:
            self._tasks.append(asyncio.create_task(self.services.inbox_worker.run_forever(poll=5.0)))

        self.slack_side = SlackSide(self)
        self.teams_side = TeamsSide(self)
        self.page_url = await self._serve(build_page_app(self), self.port)

    def _import_sample(self) -> None:
        from bot.intake.csv_import import import_csv

        self.sample_report = import_csv(self.engine, self.ws, SAMPLE, mapping=None, open_cases="recent",
                                        now=self.clock())

    async def _serve(self, app: web.Application, port: int) -> str:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, self.host, port).start()
        self._runners.append(runner)
        return f"http://{self.host}:{runner.addresses[0][1]}"

    async def close(self) -> None:
        self.closing.set()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        if getattr(self, "http", None) is not None:
            await self.http.close()
        if getattr(self, "slack", None) is not None:
            await self.slack.close()
        if self._teams_cm is not None:
            self._teams_cm.__exit__(None, None, None)
            self._teams_cm = None
        if getattr(self, "engine", None) is not None:
            self.engine.dispose()
        if self._previous_clock is not None:
            process_clock.install(self._previous_clock)
            self._previous_clock = None

    async def __aenter__(self) -> Sandbox:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @classmethod
    @contextmanager
    def in_thread(cls, **options: Any) -> Iterator[Sandbox]:
        """Run a sandbox on its own event loop in a background thread (for synchronous callers: the browser tests)."""
        sandbox = cls(**options)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="cxloop-sandbox", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(sandbox.__aenter__(), loop).result(timeout=120)
            sandbox.loop = loop
            yield sandbox
        finally:
            try:
                asyncio.run_coroutine_threadsafe(sandbox.close(), loop).result(timeout=30)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout=10)
                loop.close()

    # --- what the page and the tests ask ------------------------------------------------------

    def person(self, slack_id: str) -> Person:
        for p in self.people:
            if p.slack_id == slack_id:
                return p
        raise LookupError(f"nobody in the sample workspace has the id {slack_id!r}")

    def roles(self) -> dict[str, dict[str, Any]]:
        """Each person's role and teams as cxloop has them now (a `/cx role` changes them)."""
        out: dict[str, dict[str, Any]] = {}
        with Session(self.engine) as s:
            for m in s.exec(select(Member).where(Member.slack_user_id.is_not(None))):
                actor = actor_for(s, m)
                out[m.slack_user_id or ""] = {"role": actor.role.value, "teams": sorted(actor.teams),
                                              "manages": sorted(actor.manages)}
        return out

    async def settle(self, timeout: float = 20.0) -> None:
        """Wait until cxloop has finished what it acknowledged and sent everything due now."""
        deadline = time.monotonic() + timeout
        while True:
            await self.rt.wait_idle(timeout=max(deadline - time.monotonic(), 0.1))
            await self.deliverer.drain()
            if not await asyncio.to_thread(self._outbox_busy) or time.monotonic() > deadline:
                return
            await asyncio.sleep(0.05)

    def _outbox_busy(self) -> bool:
        now = self.clock()
        with Session(self.engine) as s:
            n = s.exec(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.status == "pending",
                or_(OutboxMessage.next_attempt_at <= now + timedelta(seconds=3),
                    OutboxMessage.locked_until > now))).one()
        return bool(n)

    async def run_due(self, at: datetime) -> tuple[datetime, dict[str, Any]]:
        """Move the clock to `at` and do what cxloop's scheduler would do then (`cxloop run-due --at`);
        returns the instant the due work ran at (the clock runs on while it works) and its summary."""
        from handlers.jobs import run_due

        self.clock.jump(at)
        ran_at = self.clock()
        summary = await run_due(self.engine, self.ws, self.settings, at=ran_at, deliverer=self.deliverer)
        self.changes += 1
        return ran_at, summary


async def serve_sandbox(*, port: int, db_path: Path | str, announce: Any = print) -> None:
    """`cxloop sandbox`: start everything, say where the page is, run until SIGINT or SIGTERM."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except NotImplementedError:  # pragma: no cover
            pass
    async with Sandbox(db_path=db_path, port=port) as sb:
        from standins.sandbox.api import renderer_installed

        announce(f"cxloop sandbox: open {sb.page_url} in a browser (Ctrl-C stops it).\n"
                 f"  cxloop is serving on {sb.cx_url}, on {sb.db_path} (SQLite) with the bundled sample: "
                 f"{sb.sample_report.imported} answers, {sb.sample_report.cases_opened} open cases.\n"
                 f"  Slack Web API stand-in {sb.slack.url}; Bot Connector stand-in {sb.teams.url}. "
                 f"The clock reads {sb.clock():%A %d %B %Y %H:%M} UTC.")
        if not renderer_installed(sb):
            announce("  Teams cards need Microsoft's Adaptive Cards renderer: run `make sandbox` (npm install).")
        await stop.wait()
