#!/usr/bin/env python
"""Acknowledgement latency of `/cx` slash commands and alert button clicks, cxloop vs a bare Bolt app.

What runs (all on 127.0.0.1):
- the local Slack Web API stand-in (standins.slack_api.SlackStandIn), in a process of its own so its
  work is not billed to the servers, niced (Slack's API is remote in real life, and only cxloop's
  workers call it: at nice 0 it competed with cxloop's server alone for the two CPUs);
- cxloop's real HTTP server, wired as `cxloop serve` wires it (its 200 goes out once the request is
  committed to the inbox: the durable path) (build_services + build_web_app, a real
  SQLite database migrated with storage.db.upgrade into a temp dir, or with `--backend postgres` a
  PostgreSQL database on a durable throwaway cluster of the bench's own, the bundled workspace from
  bot.config.load_workspace(), the outbox worker running), served with aiohttp's AppRunner;
- beside it, on the same event loop, a bare Bolt AsyncApp (same signing secret, same Web API
  stand-in) whose listeners for `/cx` and the alert buttons only `ack()`, served through the same
  aiohttp adapter (slack_bolt.adapter.aiohttp), on the same aiohttp version.

Before measuring, `--cases` cases are opened with bot.intake.record_response and their alerts are
delivered to the stand-in, so every click carries a real alert message (as Slack sends it) and hits
a real case: the first click on each case takes it, later clicks are refused ("already owned") with
an ephemeral message, as double clicks are in real life. One run-due then does the one-off work
the new cases cause (themes, the first digest, time zones), so no measured round is billed for it.
Commands alternate `/cx help` and `/cx mine` over every person in the workspace (after the first click round the first member of
each team owns a third of the cases, so `mine` lists up to 40 of them).

The load generator is an aiohttp client keeping `--concurrency` Slack-signed requests in flight; a
request's latency is the time from sending it to having read the whole HTTP response. The machine
may be shared, so cxloop and bare Bolt are measured in alternating rounds (`--rounds`), each after an
unmeasured warm-up, and the ratio compares like with like. A serial pass (one request in flight)
shows the unloaded latency. In `--serve process` mode the server process's CPU time per request
(all threads, post-ack work included, measured until the server is idle again) is reported too:
with N requests in flight and the server CPU-bound, latency ≈ N × CPU per request.

Where the servers run (`--serve`):
- process: in a child process (its own interpreter and GIL): the headline figures;
- thread:  on their own event loop in a thread of the load generator's process (shares the GIL);
- loop:    on the load generator's own event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import multiprocessing as mp
import os
import re
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_seconds, idle_cpu_rate, percentile, proc_stat, quiet_logs, table  # noqa: E402

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench"
TOUCHPOINTS = ["phone", "chat", "billing", "refund", "delivery", "returns"]  # all three bundled teams
P99_TARGET_MS = 100.0
RATIO_TARGET = 0.5  # issue 11: the durable ack at <= half of bare Bolt's p99


# =============================================================================================
# The Slack stand-in, in its own process
# =============================================================================================


def _standin_main(conn: Any) -> None:
    from standins.slack_api import SlackStandIn

    # Slack's Web API is remote in real life: on this machine its stand-in must not take the CPU the
    # server needs. It answers the workers (replies, edits, DMs), which bare Bolt's listeners never
    # call, so at nice 0 it slowed only cxloop's acknowledgements. BENCH_STANDIN_NICE=0 measures that.
    os.nice(int(os.environ.get("BENCH_STANDIN_NICE", "10")))
    quiet_logs()
    with SlackStandIn.in_thread(token=TOKEN) as slack:
        from bot.config import load_workspace

        for uid, person in load_workspace().people.items():
            slack.add_user(uid, name=person.name, tz=person.tz or "UTC")
        conn.send(slack.api_url)
        while True:
            name, args = conn.recv()
            if name == "stop":
                conn.send(None)
                return
            if name == "count":
                conn.send(len(slack.calls_to(args[0])))
            if name == "add_user":
                slack.add_user(args[0], name=f"Person {args[0]}", tz="UTC")
                conn.send(None)


class StandInProcess:
    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_standin_main, args=(child,), name="bench-slack-standin", daemon=True)
        self.proc.start()
        if not self.conn.poll(60):
            raise TimeoutError("the Slack stand-in process did not start")
        self.api_url: str = self.conn.recv()

    def add_user(self, uid: str) -> None:
        self.conn.send(("add_user", (uid,)))
        self.conn.recv()

    def count(self, method: str) -> int:
        self.conn.send(("count", (method,)))
        return self.conn.recv()

    def close(self) -> None:
        try:
            self.conn.send(("stop", ()))
            self.conn.poll(15)
        finally:
            self.proc.join(timeout=15)
            if self.proc.is_alive():
                self.proc.terminate()
                self.proc.join(timeout=5)


# =============================================================================================
# Server side: cxloop and the bare Bolt app, on one event loop
# =============================================================================================


class Servers:
    """Everything the load is aimed at. Lives on the server's event loop."""

    def __init__(self, api_url: str, cases: int, worker: bool, profile: str | None, what_if: list[str],
                 workers: int = 1, db_url: str | None = None):
        self.api_url = api_url
        self.db_url = db_url  # a migrated PostgreSQL database (--backend postgres); None: a new SQLite file
        self.cases = cases
        self.worker = worker
        self.workers = workers  # worker processes beside the server, as `cxloop serve --workers N`
        self.pool: Any = None
        self.profile = profile  # None, "pyinstrument", "yappi" or "cprofile"
        self.what_if = what_if
        self._sessions: list[Any] = []
        self._profiler: Any = None
        self._runners: list[Any] = []

    async def start(self) -> dict[str, Any]:
        from _common import migrated_sqlite
        from aiohttp import web
        from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
        from slack_bolt.async_app import AsyncApp
        from slack_sdk.web.async_client import AsyncWebClient

        from bot.cases.notify import alert_key
        from bot.config import Settings, load_workspace
        from bot.intake.store import record_response
        from bot.intake.surveys import build_response
        from bot.machinery.runtime import Runtime
        from bot.people.roster import sync_workspace
        from handlers.serve import build_services
        from handlers.server import build_web_app
        from storage.db import make_engine, session_scope

        quiet_logs()
        t0 = time.perf_counter()
        if self.db_url is not None:
            url = self.db_url
        else:
            self._tmp, url = migrated_sqlite("cxloop-bench-ack-")
        self.engine = make_engine(url)
        ws = load_workspace()
        settings = Settings(database_url=url, slack_bot_token=TOKEN, slack_signing_secret=SECRET,
                            slack_api_url=self.api_url)
        with session_scope(self.engine) as s:
            sync_workspace(s, ws)
        self.rt = Runtime(engine=self.engine, workspace=ws, settings=settings)
        services = build_services(self.engine, ws, settings, runtime=self.rt, role="web" if self.workers else "all")
        assert services.slack_app is not None, "Slack is not configured"
        from handlers.platforms import make_deliverer

        # Setup delivers with a deliverer of its own (in "web" role the server has none: workers deliver).
        setup_deliverer = services.deliverer or make_deliverer(self.rt)
        assert setup_deliverer is not None

        # Open the cases and post their alerts (unpaced), so clicks carry real alert messages.
        cases = []
        for i in range(self.cases):
            tp = TOUCHPOINTS[i % len(TOUCHPOINTS)]
            r = build_response({"source": "generic", "external_id": f"bench-{i:05d}", "survey": "nps",
                                "score": i % 7, "comment": f"Bench complaint {i}: waited too long.",
                                "customer_id": f"c-{i}", "customer_name": f"Customer {i}",
                                "customer_email": f"customer{i}@example.com", "touchpoint": tp,
                                "responded_at": "2026-11-20T10:15:00Z"})
            res = record_response(self.engine, ws, r)
            assert res.case_id is not None, "a detractor response opened no case"
            cases.append((res.case_id, ws.route(tp)))
        port = setup_deliverer.ports["slack"]
        gap = port.per_channel_gap  # type: ignore[attr-defined]
        port.per_channel_gap = 0.0  # type: ignore[attr-defined]
        await setup_deliverer.drain()
        # The one-off work these new cases cause (their responses' themes, the first weekly digest
        # with its charts, people's time zones) is done now, by one run-due: otherwise the workers'
        # first minute tick does it, about 0.35 s of CPU plus the charts, billed to whichever
        # measured round it lands in. Their later ticks find nothing new (about 50 ms each).
        from handlers.jobs import run_due

        await run_due(self.engine, ws, settings, deliverer=setup_deliverer)
        port.per_channel_gap = gap  # type: ignore[attr-defined]  # back to the default for the run

        # Read the alerts back through the Web API, as they are stored (metadata included).
        client = AsyncWebClient(token=TOKEN, base_url=self.api_url)
        by_key: dict[str, tuple[str, dict[str, Any]]] = {}
        for team in ws.teams:
            cursor = None
            while team.slack_channel:
                page = await client.conversations_history(channel=team.slack_channel, include_all_metadata=True,
                                                          limit=1000, cursor=cursor)
                for m in page["messages"]:
                    key = ((m.get("metadata") or {}).get("event_payload") or {}).get("key")
                    if key:
                        by_key.setdefault(key, (team.slack_channel, m))  # newest first
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        alerts = []
        for cid, team in cases:
            channel, message = by_key[alert_key("slack", cid)]
            t = ws.team(team)
            alerts.append({"case": cid, "channel": channel, "message": message,
                           "users": list(t.members) + list(t.managers)})
        setup_s = time.perf_counter() - t0

        applied = self._apply_what_if(services)

        # cxloop: the real web app, as `cxloop serve` runs it (outbox worker on unless --no-worker),
        # with its worker processes (`cxloop work`, on the same database and Slack stand-in).
        services.run_worker = self.worker
        cx_url = await self._serve(build_web_app(services))
        if self.workers:
            from handlers.serve import WorkerPool

            env = {**os.environ, "DATABASE_URL": url, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
                   "SLACK_API_URL": self.api_url}
            env.pop("CXLOOP_CONFIG", None)
            # As `cxloop serve` starts them (--worker-nice 10 by default).
            self.pool = WorkerPool([sys.executable, "-m", "handlers.cli", "work", "--nice", os.environ.get("BENCH_WORKER_NICE", "10")], self.workers, env=env)
            self._supervisor = asyncio.create_task(self.pool.supervise())

        # Bare Bolt: same secret, same Web API stand-in, listeners that only ack.
        bare = AsyncApp(signing_secret=SECRET, client=AsyncWebClient(token=TOKEN, base_url=self.api_url))

        @bare.command("/cx")
        async def _cmd(ack):  # type: ignore[no-untyped-def]
            await ack()

        @bare.action(re.compile(r"^case_"))
        async def _act(ack):  # type: ignore[no-untyped-def]
            await ack()

        async def bare_events(request: web.Request) -> web.Response:
            # Bolt's own aiohttp adapter, as its documentation serves an app.
            return await to_aiohttp_response(await bare.async_dispatch(await to_bolt_request(request)))

        bare_web = web.Application()
        bare_web.router.add_post("/slack/events", bare_events)
        bare_url = await self._serve(bare_web)

        async def floor_events(request: web.Request) -> web.Response:
            # The floor: what any aiohttp server pays to read a request and answer it, and nothing else.
            await request.read()
            return web.Response()

        floor_web = web.Application()
        floor_web.router.add_post("/slack/events", floor_events)
        floor_url = await self._serve(floor_web)
        from handlers.serve import freeze_start_up_heap

        # As `cxloop serve` does once started (the bare app's objects are frozen with cxloop's).
        frozen = freeze_start_up_heap()
        return {"cx": cx_url + "/slack/events", "bare": bare_url + "/slack/events",
                "floor": floor_url + "/slack/events", "alerts": alerts, "frozen": frozen,
                "response_base": self.api_url.rstrip("/").removesuffix("/api") + "/response",
                "users": sorted(ws.people), "setup_s": setup_s, "pid": os.getpid(), "what_if": applied,
                "db_url": url}

    def _apply_what_if(self, services: Any) -> list[str]:
        """Experiments sizing a suggested change, monkeypatched in this process only (cxloop is not edited)."""
        import concurrent.futures

        import aiohttp

        applied = []
        for w in self.what_if:
            if w == "shared-session":
                # One aiohttp session (connection pool) for every Web API call instead of one per call.
                session = aiohttp.ClientSession()
                self._sessions.append(session)
                services.slack_app._async_client.session = session  # Bolt copies it into per-request clients
                for port in services.deliverer.ports.values():
                    port.client.session = session
            elif w == "hot-listeners-first":
                # Bolt tries listeners in registration order; put /cx and "Take it" first.
                hot = {"on_cx": 0, "on_take": 1}
                services.slack_app._async_listeners.sort(
                    key=lambda lst: hot.get(getattr(lst.ack_function, "__name__", ""), 2))
            elif w.startswith("executor="):
                # The default thread pool (asyncio.to_thread) with another size.
                n = int(w.split("=", 1)[1])
                asyncio.get_running_loop().set_default_executor(
                    concurrent.futures.ThreadPoolExecutor(max_workers=n, thread_name_prefix="asyncio"))
            elif w == "workspace-cache":
                # Runtime.workspace re-checks the database on every access; cache it for 5 s instead.
                from bot.machinery.runtime import Runtime

                prop = Runtime.__dict__.get("workspace")
                if not isinstance(prop, property):
                    continue
                cache: dict[int, tuple[float, Any]] = {}

                def cached(rt: Any, _get: Any = prop.fget) -> Any:
                    hit = cache.get(id(rt))
                    if hit is None or time.monotonic() - hit[0] > 5.0:
                        hit = cache[id(rt)] = (time.monotonic(), _get(rt))
                    return hit[1]

                Runtime.workspace = property(cached)  # type: ignore[method-assign,assignment]
            elif w.startswith("split-executor"):
                # /cx's transaction (which its ack waits for) on its own pool of A threads; every other
                # asyncio.to_thread of the listeners (post-ack work) and of the outbox on a pool of B threads.
                import contextvars
                import functools

                import handlers.slack.listeners as listeners

                a, b = (int(x) for x in (w.split("=", 1)[1] if "=" in w else "2:1").split(":"))
                loop = asyncio.get_running_loop()
                ack_pool = concurrent.futures.ThreadPoolExecutor(max_workers=a, thread_name_prefix="ack")
                loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=b,
                                                                                thread_name_prefix="bg"))

                class _Asyncio:
                    def __getattr__(self, name: str) -> Any:
                        return getattr(asyncio, name)

                    @staticmethod
                    async def to_thread(fn: Any, /, *fargs: Any, **fkw: Any) -> Any:
                        inner = fargs[0] if fargs else None
                        if "on_cx" in getattr(inner, "__qualname__", ""):
                            call = functools.partial(contextvars.copy_context().run, fn, *fargs, **fkw)
                            return await asyncio.get_running_loop().run_in_executor(ack_pool, call)
                        return await asyncio.to_thread(fn, *fargs, **fkw)

                listeners.asyncio = _Asyncio()  # type: ignore[assignment]
            elif w == "ack-first":
                # /cx acks at once ("Working on it…") and answers with chat.postEphemeral, as it already
                # does for commands slower than listeners.SLOW_COMMAND seconds.
                import handlers.slack.listeners as listeners

                if not hasattr(listeners, "SLOW_COMMAND"):
                    continue
                listeners.SLOW_COMMAND = 0.0  # type: ignore[attr-defined]
            elif w == "no-commit":
                # Sizes the inbox commit's share of an acknowledgement: requests are answered without
                # being stored (never do this in production: "acknowledged" must mean stored).
                from bot.machinery import inbox_writer

                async def _put(self: Any, row: Any) -> int:
                    return 0

                inbox_writer.InboxWriter.put = _put  # type: ignore[method-assign]
            elif w == "switchinterval":
                sys.setswitchinterval(0.0005)  # hand the GIL over 10x more often than the default 5 ms
            else:
                raise ValueError(f"unknown --what-if {w!r}")
            applied.append(w)
        return applied

    async def _serve(self, app: Any) -> str:
        from aiohttp import web

        runner = web.AppRunner(app)  # as handlers.serve.serve does
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    async def cpu(self) -> tuple[float, float]:
        """CPU seconds this process and its worker processes have used, all threads: (server, workers)."""
        workers = 0.0
        for p in (self.pool.procs if self.pool else []):
            try:
                workers += cpu_seconds(p.pid)
            except (OSError, IndexError, ValueError):
                pass
        return time.process_time(), workers

    async def idle(self) -> None:
        """Wait until this process has finished the work it acknowledged (no polling: Runtime.track).
        Whether the worker processes are done is read from the database by the load generator
        (`Drained`), so those polls are not billed to the server."""
        try:
            await self.rt.wait_idle(timeout=300)
        except (TimeoutError, asyncio.TimeoutError):
            print(f"[servers] still {self.rt.inflight} acknowledged requests in progress after 300 s",
                  file=sys.stderr, flush=True)
            for t in asyncio.all_tasks():
                t.print_stack(limit=8, file=sys.stderr)
            raise

    async def idle_rate(self, seconds: float) -> tuple[float, float]:
        """CPU seconds per second of the server and of its worker processes with nothing to do (their
        polls), measured once everything is settled: subtracted from each phase."""
        return await idle_cpu_rate(self.cpu, seconds)

    async def profile_start(self) -> None:
        if self.profile == "pyinstrument":
            from pyinstrument import Profiler

            self._profiler = Profiler(interval=0.001, async_mode="disabled")
            self._profiler.start()
        elif self.profile == "yappi":
            import yappi

            yappi.clear_stats()
            yappi.set_clock_type("cpu")
            yappi.start(builtins=False, profile_threads=True)
            self._profiler = yappi
        elif self.profile == "cprofile":
            import cProfile

            self._profiler = cProfile.Profile()
            self._profiler.enable()

    async def profile_stop(self, label: str) -> str:
        if self._profiler is None:
            return ""
        await self.idle()  # post-ack work belongs to the phase
        base = Path(os.environ.get("BENCH_PROFILE_DIR", "/tmp")) / f"bench_slack_ack.{label}"
        if self.profile == "pyinstrument":
            self._profiler.stop()
            out = base.with_name(base.name + ".pyinstrument.txt")
            out.write_text(self._profiler.output_text(unicode=False, color=False, show_all=False))
            base.with_name(base.name + ".pyinstrument.html").write_text(self._profiler.output_html())
            self._profiler.last_session.save(str(base.with_name(base.name + ".pyisession")))
        elif self.profile == "yappi":
            out = base.with_name(base.name + ".yappi.txt")
            _write_yappi(self._profiler, out)
        else:
            import pstats

            self._profiler.disable()
            out = base.with_name(base.name + ".cprofile.txt")
            with out.open("w") as fh:
                st = pstats.Stats(self._profiler, stream=fh)
                st.sort_stats("cumulative").print_stats(60)
                st.sort_stats("tottime").print_stats(40)
        self._profiler = None
        return str(out)

    async def stop(self) -> None:
        if self.pool is not None:
            self._supervisor.cancel()
            await self.pool.stop()
        for r in reversed(self._runners):
            await r.cleanup()
        for session in self._sessions:
            await session.close()
        self.engine.dispose()
        if self.db_url is None:
            self._tmp.cleanup()


# Where a request's CPU goes, as listed at the top of a --profile yappi report (module suffix:function).
KEY_FUNCTIONS = [
    "handlers/slack/http.py:slack_events",
    "slack_bolt/adapter/aiohttp/__init__.py:to_bolt_request",
    "slack_bolt/app/async_app.py:AsyncApp.async_dispatch",
    "slack_bolt/listener/async_listener.py:AsyncCustomListener.async_matches",
    "slack_bolt/listener/asyncio_runner.py:AsyncioListenerRunner.run",
    "asyncio/tasks.py:sleep",
    "slack_bolt/listener/asyncio_runner.py:run_ack_function_asynchronously",
    "handlers/slack/listeners.py:on_cx",
    "handlers/slack/listeners.py:answer",
    "handlers/slack/render.py:message",
    "handlers/slack/listeners.py:on_take",
    "handlers/slack/listeners.py:_tell",
    "slack_sdk/web/async_base_client.py:AsyncWebClient.api_call",
    "aiohttp/connector.py:TCPConnector.connect",
    "concurrent/futures/thread.py:_WorkItem.run",
    "bot/machinery/runtime.py:Runtime.transaction",
    "handlers/slack/listeners.py:actor_of",
    "bot/machinery/runtime.py:Runtime.workspace",
    "bot/console/registry.py:dispatch",
    "bot/console/registry.py:_help",
    "bot/console/registry.py:_mine",
    "bot/console/registry.py:_case_line",
    "bot/cases/service.py:load_view",
    "bot/cases/service.py:take",
    "bot/cases/notify.py:publish_change",
    "bot/cases/notify.py:refresh_homes",
    "storage/db.py:session_scope",
    "bot/machinery/outbox.py:Deliverer._deliver_one",
    "bot/machinery/outbox.py:_claim",
]


def _write_yappi(yappi: Any, out: Path) -> None:
    """CPU per thread, then functions by inclusive and by own CPU time (all threads together)."""
    yappi.stop()
    threads = yappi.get_thread_stats()
    stats = yappi.get_func_stats()
    with out.open("w") as fh:
        fh.write("CPU seconds per thread\n")
        for t in sorted(threads, key=lambda t: -t.ttot):
            fh.write(f"  {t.ttot:8.3f}  {t.name} (id {t.id}, {t.sched_count} switches)\n")
        rows = list(stats)

        def name(s: Any) -> str:
            mod = s.module
            for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
                if marker in mod:
                    mod = mod.split(marker, 1)[1]
            return f"{s.name}  {mod}:{s.lineno}"

        total = sum(t.ttot for t in threads)
        fh.write(f"  {total:8.3f}  all threads\n")
        fh.write("\nKey functions (inclusive CPU; nested entries are part of their parents)\n"
                 "     ttot   share     calls  ttot/call ms  function\n")
        for key in KEY_FUNCTIONS:
            mod, _, fn = key.rpartition(":")
            for st in rows:
                if st.name == fn and st.module.endswith(mod):
                    fh.write(f"  {st.ttot:7.3f}  {100 * st.ttot / max(total, 1e-9):5.1f}%  {st.ncall:8d}  "
                             f"{1000 * st.ttot / max(st.ncall, 1):12.3f}  {name(st)}\n")
                    break
        fh.write("\nBy inclusive CPU (ttot), top 80\n     ttot      tsub     calls  ttot/call ms  function\n")
        for s in sorted(rows, key=lambda s: -s.ttot)[:80]:
            fh.write(f"  {s.ttot:7.3f}  {s.tsub:8.3f}  {s.ncall:8d}  {1000 * s.ttot / max(s.ncall, 1):12.3f}  "
                     f"{name(s)}\n")
        fh.write("\nBy own CPU (tsub), top 50\n")
        for s in sorted(rows, key=lambda s: -s.tsub)[:50]:
            fh.write(f"  {s.tsub:7.3f}  {s.ncall:8d}  {name(s)}\n")
    yappi.clear_stats()


# ---- hosting the servers: same loop, a thread, or a child process --------------------------


class Host:
    """Runs `Servers` somewhere and forwards calls to it."""

    async def call(self, name: str, *args: Any) -> Any:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class LoopHost(Host):
    def __init__(self, servers: Servers):
        self.servers = servers

    async def call(self, name: str, *args: Any) -> Any:
        return await getattr(self.servers, name)(*args)

    async def close(self) -> None:
        await self.servers.stop()


class ThreadHost(Host):
    def __init__(self, servers: Servers):
        self.servers = servers
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bench-servers", daemon=True)
        self.thread.start()

    async def call(self, name: str, *args: Any) -> Any:
        fut = asyncio.run_coroutine_threadsafe(getattr(self.servers, name)(*args), self.loop)
        return await asyncio.wrap_future(fut)

    async def close(self) -> None:
        try:
            await self.call("stop")
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()


def _servers_main(conn: Any, api_url: str, cases: int, worker: bool, profile: str | None,
                  what_if: list[str], workers: int, db_url: str | None) -> None:
    """The child process: serve, and answer the parent's calls over the pipe."""

    async def main() -> None:
        servers = Servers(api_url, cases, worker, profile, what_if, workers, db_url)
        loop = asyncio.get_running_loop()
        while True:
            name, args = await loop.run_in_executor(None, conn.recv)
            try:
                result = await getattr(servers, name)(*args)
                conn.send(("ok", result))
            except BaseException as exc:  # report, then keep serving (or stop)
                conn.send(("error", repr(exc)))
            if name == "stop":
                return

    asyncio.run(main())


class ProcessHost(Host):
    def __init__(self, servers: Servers):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_servers_main, name="bench-servers", daemon=True,
                                args=(child, servers.api_url, servers.cases, servers.worker, servers.profile,
                                      servers.what_if, servers.workers, servers.db_url))
        self.proc.start()
        self._lock = asyncio.Lock()

    async def call(self, name: str, *args: Any) -> Any:
        async with self._lock:
            loop = asyncio.get_running_loop()
            self.conn.send((name, args))
            ready = await loop.run_in_executor(None, self.conn.poll, 900)
            if not ready:
                raise TimeoutError(f"the server process did not answer {name} within 900 s")
            status, result = self.conn.recv()
        if status != "ok":
            raise RuntimeError(f"server process: {name} failed: {result}")
        return result

    async def close(self) -> None:
        try:
            if self.proc.is_alive():
                await self.call("stop")
        finally:
            self.proc.join(timeout=15)
            if self.proc.is_alive():
                self.proc.terminate()  # the child we started, by its handle
                self.proc.join(timeout=5)


HOSTS: dict[str, Callable[[Servers], Host]] = {"process": ProcessHost, "thread": ThreadHost, "loop": LoopHost}


# =============================================================================================
# Client side: the load generator
# =============================================================================================


@dataclass
class Phase:
    """Latencies of one (server, request kind, concurrency), accumulated over rounds."""

    target: str
    kind: str
    latencies: list[float] = field(default_factory=list)  # seconds
    labels: list[str] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    deferred: int = 0  # /cx acknowledged with cxloop's "Working on it…" placeholder
    elapsed: float = 0.0
    client_cpu: float = 0.0  # CPU seconds the load generator spent sending these requests and reading the answers
    cpu: float = 0.0  # CPU seconds of the server process and its worker processes (process mode only)
    cpu_workers: float = 0.0  # of which the worker processes'
    cpu_database: float = 0.0  # CPU seconds of PostgreSQL's processes meanwhile (--backend postgres), not in `cpu`
    waited: float = 0.0  # seconds from the first request until all was handled and delivered
    cpu_requests: int = 0

    def ms(self, pct: float, label: str | None = None) -> float:
        lat = self.latencies if label is None else [x for x, lb in zip(self.latencies, self.labels) if lb == label]
        return percentile(lat, pct) * 1000

    @property
    def n_errors(self) -> int:
        return sum(self.errors.values())


@contextlib.contextmanager
def no_collections_here() -> Iterator[None]:
    """The load generator's own garbage collections paused while it times requests: a full one took
    40-55 ms here, and was billed to whichever server was being timed. (The servers collect as
    they do in production; `cxloop serve` freezes its start-up heap, handlers/serve.py.)"""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def load(url: str, bodies: list[tuple[str, bytes]], concurrency: int, phase: Phase | None = None,
               *, between_bursts: Callable[[], Awaitable[Any]] | None = None) -> Phase:
    """Send every (label, body) form-encoded and signed, `concurrency` in flight; time each one.

    With `between_bursts`, requests go in bursts of `concurrency` sent at once; the next burst starts
    when the whole burst is answered and `between_bursts()` (waiting for the server to be idle) returns.
    """
    if between_bursts is not None:
        res = phase or Phase("", "")
        for i in range(0, len(bodies), concurrency):
            await load(url, bodies[i:i + concurrency], concurrency, res)
            await between_bursts()
        return res
    import aiohttp

    from standins.slack_sender import sign

    res = phase or Phase("", "")
    it = iter(bodies)
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:

        async def worker() -> None:
            for label, body in it:  # a shared iterator: each body is sent once
                ts = int(time.time())
                headers = {"Content-Type": "application/x-www-form-urlencoded",
                           "X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": sign(SECRET, body, ts)}
                why = ""
                t0 = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as r:
                        text = await r.read()
                        if r.status != 200:
                            why = f"HTTP {r.status}"
                except Exception as exc:
                    why = type(exc).__name__
                t1 = time.perf_counter()
                if why:
                    res.errors[why] = res.errors.get(why, 0) + 1
                    continue
                res.latencies.append(t1 - t0)
                res.labels.append(label)
                if b"Working on it" in text:
                    res.deferred += 1

        with no_collections_here():
            started, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            res.elapsed += time.perf_counter() - started
            res.client_cpu += time.process_time() - cpu
    return res


def click_bodies(info: dict[str, Any], start: int, n: int) -> list[tuple[str, bytes]]:
    """Clicks `start`…`start+n-1` of "Take it", round-robin over the cases, by a member of the case's team."""
    from standins.slack_sender import SlackSender

    sender = SlackSender("unused", SECRET)
    alerts = info["alerts"]
    out = []
    for j in range(start, start + n):
        a = alerts[j % len(alerts)]
        user = a["users"][(j // len(alerts)) % len(a["users"])]
        label = "take" if j < len(alerts) else "again"
        out.append((label, sender.click_body(user, a["message"], "case_take", channel=a["channel"])))
    return out


def command_bodies(info: dict[str, Any], start: int, n: int) -> list[tuple[str, bytes]]:
    """`/cx help` and `/cx mine` alternating, users round-robin."""
    from standins.slack_sender import SlackSender

    # Answers go to the stand-in's response_url route, as Slack's would go to Slack.
    sender = SlackSender("unused", SECRET, response_base=info["response_base"])
    users = info["users"]
    out = []
    for j in range(start, start + n):
        text = "help" if j % 2 == 0 else "mine"
        out.append((text, sender.command_body(users[(j // 2) % len(users)], text)))
    return out


BODIES = {"click": click_bodies, "command": command_bodies}


class Drained:
    """Waits, from the load generator's process, until the servers' database shows the work done.

    The polls run here, not in the server process: there they were billed to cxloop's CPU per request
    (a settle after the takes waits ~20 s for paced thread notes, a poll every 0.1 s)."""

    def __init__(self, url: str):
        from storage.db import make_engine

        self.engine = make_engine(url)

    async def wait(self, host: Host, *, outbox: bool) -> None:
        """`host`'s acknowledged work finished, the inbox handled and, with `outbox`, every message
        the requests queued sent (their alert edits, thread notes and DMs belong to them)."""
        from sqlalchemy import func, select

        from storage.models import InboxItem, OutboxMessage

        await host.call("idle")

        def left(rows: Any, status: Any) -> int:
            with self.engine.connect() as conn:
                return conn.execute(select(func.count()).select_from(rows).where(status == "pending")).scalar_one()

        started = time.monotonic()
        queues = [(InboxItem, InboxItem.status)] + ([(OutboxMessage, OutboxMessage.status)] if outbox else [])
        for rows, status in queues:
            while await asyncio.to_thread(left, rows, status):
                if time.monotonic() - started > 600:
                    raise TimeoutError(f"{rows.__tablename__} still has pending rows after 10 minutes")
                await asyncio.sleep(0.05)

    def close(self) -> None:
        self.engine.dispose()


async def run_mode(mode: str, args: argparse.Namespace, standin: StandInProcess) -> dict[tuple[str, str, int], Phase]:
    """All phases for one way of serving. Targets: bare, cx and, with --what-if, cx+ (a second process)."""
    hosts = {"": HOSTS[mode](Servers(standin.api_url, args.cases, not args.no_worker, args.profile, [], args.workers,
                                     args.new_database()))}
    if args.what_if:
        hosts["+"] = HOSTS[mode](Servers(standin.api_url, args.cases, not args.no_worker, args.profile, args.what_if,
                                         args.workers, args.new_database()))
    phases: dict[tuple[str, str, int], Phase] = {}
    drained: dict[str, Drained] = {}
    try:
        infos = {}
        for name, host in hosts.items():
            infos[name] = info = await host.call("start")
            print(f"[{mode}] servers{name} up in pid {info['pid']} (setup {info['setup_s']:.1f} s: "
                  f"{len(info['alerts'])} cases opened and their alerts posted; {info['frozen']} objects "
                  "frozen out of garbage collection, as `cxloop serve` does)"
                  + (f"; what-if: {', '.join(info['what_if'])}" if info["what_if"] else ""), flush=True)
        for name, host in hosts.items():
            drained[name] = Drained(infos[name]["db_url"])
            await drained[name].wait(host, outbox=True)
        info = infos[""]
        # (target, url, host, its database): the bare app and cxloop share the first server process.
        targets = [("bare", info["bare"], hosts[""], drained[""]), ("cx", info["cx"], hosts[""], drained[""])]
        if "+" in hosts:
            targets.append(("cx+", infos["+"]["cx"], hosts["+"], drained["+"]))
        if args.floor:
            targets.append(("floor", info["floor"], hosts[""], drained[""]))
        # In process mode, CPU is billed to a phase until everything it queued is delivered; the
        # polls' own CPU over that time (measured here, while idle) is taken off.
        rates = {name: (await host.call("idle_rate", 3.0)) if mode == "process" else (0.0, 0.0)
                 for name, host in hosts.items()}
        if mode == "process":
            args.idle_rates = list(rates.values())
        per_round = [args.requests // args.rounds + (1 if r < args.requests % args.rounds else 0)
                     for r in range(args.rounds)]
        sent = {"click": 0, "command": 0}
        for r, n in enumerate(per_round):
            for kind in ("click", "command"):
                bodies = BODIES[kind](info, sent[kind], n)
                warm = BODIES[kind](info, sent[kind] + n, args.warmup)
                sent[kind] += n + args.warmup
                for target, url, host, db in targets:
                    phase = phases.setdefault((target, kind, args.concurrency), Phase(target, kind))
                    await load(url, warm, args.concurrency)
                    await db.wait(host, outbox=mode == "process")
                    cpu0, t0, db0 = await host.call("cpu"), time.monotonic(), args.database_cpu()
                    await host.call("profile_start")
                    before = len(phase.latencies)
                    await load(url, bodies, args.concurrency, phase)
                    path = await host.call("profile_stop", f"{mode}.{target}.{kind}.r{r}")
                    await db.wait(host, outbox=mode == "process")
                    if mode == "process":
                        cpu1, took = await host.call("cpu"), time.monotonic() - t0
                        # (The bare app shares the first process: cxloop's idle polls are not its work either.)
                        idle_s, idle_w = rates["+" if target == "cx+" else ""]
                        phase.cpu += sum(cpu1) - sum(cpu0) - (idle_s + idle_w) * took
                        phase.cpu_workers += cpu1[1] - cpu0[1] - idle_w * took
                        phase.cpu_database += args.database_cpu() - db0
                        phase.waited += took
                        phase.cpu_requests += n
                    if path:
                        print(f"[{mode}] profile of {target} {kind}s, round {r + 1}: {path}", flush=True)
                    got = phase.latencies[before:]
                    print(f"[{mode}] round {r + 1}/{args.rounds} {target:4} {kind:7} x{args.concurrency}: "
                          f"n={len(got)} p50={percentile(got, 50) * 1000:.1f} ms "
                          f"p99={percentile(got, 99) * 1000:.1f} ms max={max(got, default=0) * 1000:.1f} ms",
                          flush=True)
        # Bursts: `concurrency` requests at once, then wait until the server is idle again.
        if args.burst:
            for kind in ("click", "command"):
                bodies = BODIES[kind](info, sent[kind], args.requests)
                sent[kind] += args.requests
                for target, url, host, db in targets:
                    phase = phases.setdefault((target, kind, -args.concurrency), Phase(target, kind))
                    await db.wait(host, outbox=False)
                    await load(url, bodies, args.concurrency, phase,
                               between_bursts=lambda h=host, d=db: d.wait(h, outbox=False))
                    print(f"[{mode}] bursts of {args.concurrency} {target:4} {kind:7}: n={len(phase.latencies)} "
                          f"p50={phase.ms(50):.1f} ms p99={phase.ms(99):.1f} ms", flush=True)
        # Unloaded latency: one request in flight (warm state; clicks are refusals by now).
        if args.serial:
            for kind in ("click", "command"):
                bodies = BODIES[kind](info, sent[kind], args.serial)
                sent[kind] += args.serial
                for target, url, host, db in targets:
                    phase = phases.setdefault((target, kind, 1), Phase(target, kind))
                    await db.wait(host, outbox=False)
                    await load(url, bodies, 1, phase)
        return phases
    finally:
        for host in hosts.values():
            await host.close()
        for db in drained.values():
            db.close()


def report(all_phases: dict[str, dict[tuple[str, str, int], Phase]], args: argparse.Namespace) -> bool:
    rows = []
    ok = True
    details = []
    for mode, phases in all_phases.items():
        for conc in sorted({k[2] for k in phases}, key=lambda c: (c < 0, -abs(c))):
            for kind in ("click", "command"):
                bare = phases.get(("bare", kind, conc))
                for target in ("cx", "cx+", "floor"):
                    cx = phases.get((target, kind, conc))
                    if cx is None or bare is None:
                        continue
                    r50, r99 = cx.ms(50) / bare.ms(50), cx.ms(99) / bare.ms(99)
                    headline = conc == args.concurrency and target == "cx"
                    meets = cx.ms(99) < P99_TARGET_MS and r99 <= RATIO_TARGET and cx.n_errors == 0
                    if headline:
                        ok &= meets
                    cpu_bare = 1000 * bare.cpu / bare.cpu_requests if bare.cpu_requests else float("nan")
                    cpu_cx = 1000 * cx.cpu / cx.cpu_requests if cx.cpu_requests else float("nan")
                    label = ("take click" if kind == "click" else "/cx help|mine") + {
                        "cx+": " what-if", "floor": " floor"}.get(target, "")
                    how = f"burst {-conc}" if conc < 0 else f"x{conc}"
                    rows.append([f"{mode} {how}: {label}", len(cx.latencies), bare.ms(50), bare.ms(99),
                                 bare.ms(100), cx.ms(50), cx.ms(99), cx.ms(100), r50, r99, cpu_bare, cpu_cx,
                                 cx.n_errors + bare.n_errors, ("yes" if meets else "NO") if headline else ""])
                    if conc == args.concurrency and target == "floor":
                        floor_of = phases.get(("cx", kind, conc))
                        details.append(f"  {mode} x{conc} {label}: an aiohttp handler that reads the body and answers "
                                       f"200, in the same process: p99 {cx.ms(99):.1f} ms, {r99:.2f}x bare Bolt's"
                                       + (f"; cxloop's p99 is {floor_of.ms(99) / cx.ms(99):.2f}x this floor's"
                                          if floor_of is not None else "")
                                       + (f"; server CPU {cpu_cx:.2f} ms/req" if cx.cpu_requests else ""))
                    elif conc == args.concurrency:
                        subs = ("take", "again") if kind == "click" else ("help", "mine")
                        parts = [f"{sub}: p50 {cx.ms(50, sub):.1f} / p99 {cx.ms(99, sub):.1f}" for sub in subs]
                        extra = f", {cx.deferred} acked as 'Working on it…'" if cx.deferred else ""
                        errs = f", errors {cx.errors} / bare {bare.errors}" if cx.errors or bare.errors else ""
                        details.append(f"  {mode} x{conc} {label}: {'; '.join(parts)} ms{extra}{errs}; "
                                       f"throughput {len(cx.latencies) / cx.elapsed:.0f} req/s, "
                                       f"bare {len(bare.latencies) / bare.elapsed:.0f} req/s; load generator "
                                       f"{1000 * cx.client_cpu / len(cx.latencies):.2f} ms CPU per request "
                                       f"(bare {1000 * bare.client_cpu / len(bare.latencies):.2f})"
                                       + (f"; cx cpu/req: server {cpu_cx - 1000 * cx.cpu_workers / cx.cpu_requests:.2f}"
                                          f" + workers {1000 * cx.cpu_workers / cx.cpu_requests:.2f} ms"
                                          f" (billed over {cx.waited:.1f} s)"
                                          if cx.cpu_requests and cx.cpu_workers else "")
                                       + (f"; PostgreSQL's processes: cx {1000 * cx.cpu_database / cx.cpu_requests:.2f}"
                                          f" ms/req, bare {1000 * bare.cpu_database / max(1, bare.cpu_requests):.2f}"
                                          if cx.cpu_requests and args.backend == "postgres" else ""))
    print()
    print(f"Ack latency in ms, client side ({args.requests} requests per xN row and server in {args.rounds} "
          f"alternating rounds, {args.serial} per x1 row; {args.cases} cases; xN = N in flight). Targets at "
          f"x{args.concurrency}: cxloop p99 < {P99_TARGET_MS:.0f} ms and <= {RATIO_TARGET:.1f}x bare Bolt p99.")
    if args.what_if:
        print(f"'what-if' rows: cxloop in a second server process with {', '.join(args.what_if)} (not the code as is).")
    print(table(["serve xN: request", "n", "bare p50", "bare p99", "bare max", "cx p50", "cx p99", "cx max",
                 "p50 x", "p99 x", "bare cpu/req", "cx cpu/req", "errors", "meets"], rows))
    print("(cpu/req: CPU ms per request of the server process and its worker processes, all threads, post-ack "
          "work included, until every request was handled and every message it queued delivered, less the "
          f"processes' idle CPU over that time ({', '.join(f'{1000 * sum(r):.0f} ms/s' for r in getattr(args, 'idle_rates', []))}); "
          "process mode only)")
    print("\n".join(details))
    return ok


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, help="measured requests per server and kind (default 2000; --quick 400)")
    p.add_argument("--concurrency", type=int, default=50, help="requests in flight (default 50)")
    p.add_argument("--rounds", type=int, help="alternating bare/cxloop rounds (default 4; --quick 2)")
    p.add_argument("--cases", type=int, help="cases opened (and alerts posted) first (default 300; --quick 60)")
    p.add_argument("--warmup", type=int, help="unmeasured requests before each round (default 100; --quick 50)")
    p.add_argument("--serial", type=int, help="requests per kind with one in flight (0: skip; "
                   "default 200; --quick 50)")
    p.add_argument("--serve", help="where the servers run: any of process, thread, loop, comma-separated, or all "
                   "(default process,thread; --quick process; process is the headline figure)")
    p.add_argument("--burst", action="store_true", help="also send --requests requests per kind in bursts of "
                   "--concurrency at once, waiting for the server to be idle between bursts")
    p.add_argument("--no-floor", dest="floor", action="store_false",
                   help="skip the 'floor' rows: an aiohttp handler in the same process that reads the body and "
                        "answers 200, doing nothing else (what any server on aiohttp pays per request)")
    p.add_argument("--no-worker", action="store_true", help="do not run cxloop's outbox worker during the run")
    p.add_argument("--workers", type=int, default=1, help="cxloop worker processes beside the server, as "
                   "`cxloop serve --workers N` (default 1; 0: everything in the server process)")
    p.add_argument("--profile", choices=["pyinstrument", "yappi", "cprofile"],
                   help="profile the server process during each measured round: pyinstrument (event-loop thread, "
                        "wall clock), yappi (all threads, CPU) or cProfile (event-loop thread); reports go to "
                        "$BENCH_PROFILE_DIR (default /tmp). Profiling slows the server: ignore the latencies.")
    p.add_argument("--what-if", default="", metavar="LIST",
                   help="experiments that size a suggested change: a second cxloop server process, patched at run "
                        "time (cxloop's code is not edited), measured in the same alternating rounds; "
                        "comma-separated: shared-session (one aiohttp session for all Web API calls), "
                        "hot-listeners-first (/cx and case_take tried first by Bolt), executor=N (default thread "
                        "pool of N threads), split-executor=A:B (/cx's ack-path transaction on a pool of A threads, "
                        "all other to_thread work on B threads), ack-first (/cx acks at once and answers by "
                        "chat.postEphemeral, i.e. listeners.SLOW_COMMAND = 0), workspace-cache (Runtime.workspace "
                        "cached 5 s), switchinterval (GIL handed over every 0.5 ms), no-commit (answers without "
                        "storing: sizes the inbox commit's share)")
    p.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite",
                   help="cxloop's database: a SQLite file (default) or PostgreSQL, a throwaway cluster of the "
                        "bench's own with PostgreSQL's durable defaults unless --postgres-url names a server whose "
                        "user may CREATE DATABASE; PostgreSQL's own CPU is reported beside cxloop's")
    p.add_argument("--postgres-url", help="a PostgreSQL server for --backend postgres (a database is created there)")
    p.add_argument("--quick", action="store_true", help="a short run (~40 s): 400 requests in 2 rounds, 60 cases, "
                   "50 serial, process only; options given explicitly still apply")
    quick = {"requests": 400, "rounds": 2, "cases": 60, "warmup": 50, "serial": 50, "serve": "process"}
    full = {"requests": 2000, "rounds": 4, "cases": 300, "warmup": 100, "serial": 200, "serve": "process,thread"}
    p.set_defaults(**{k: None for k in full})
    args = p.parse_args(argv)
    for k, v in (quick if args.quick else full).items():  # options given explicitly win over --quick
        if getattr(args, k) is None:
            setattr(args, k, v)
    modes = ["process", "thread", "loop"] if args.serve == "all" else [m.strip() for m in args.serve.split(",")]
    bad = [m for m in modes if m not in HOSTS]
    if bad:
        p.error(f"unknown --serve mode(s): {', '.join(bad)}")
    if args.rounds < 1 or args.requests < args.rounds or args.concurrency < 1:
        p.error("need --rounds >= 1, --requests >= --rounds and --concurrency >= 1")
    if args.profile in ("pyinstrument", "yappi"):
        import importlib.util

        if importlib.util.find_spec(args.profile) is None:
            p.error(f"--profile {args.profile} needs the package: {sys.executable} -m pip install {args.profile}")
    args.modes = modes
    args.what_if = [w.strip() for w in args.what_if.split(",") if w.strip()]
    if args.what_if and modes != ["process"]:
        p.error("--what-if needs --serve process (the patches are process-wide)")
    return args


async def amain(args: argparse.Namespace) -> bool:
    with contextlib.ExitStack() as stack:
        args.new_database, args.database_cpu = lambda: None, lambda: 0.0
        if args.backend == "postgres":
            args.new_database, args.database_cpu = postgres_for_bench(stack, args.postgres_url)
        return await _amain(args)


def postgres_for_bench(stack: contextlib.ExitStack, server_url: str | None) -> tuple[Callable[[], str],
                                                                                     Callable[[], float]]:
    """For --backend postgres: a function making a fresh migrated database (dropped when `stack`
    closes) and one reading the CPU seconds PostgreSQL's processes have used so far (0 on a server
    given by --postgres-url: its processes are not ours to read). Without --postgres-url, a throwaway
    cluster of its own with PostgreSQL's durable defaults (fsync and synchronous_commit on, as in
    production, unlike the test suite's cluster): a commit costs here what it costs there."""
    import subprocess

    from _common import ROOT, postgres_database

    datadir: Path | None = None
    if server_url is None:
        script = ROOT / "scripts" / "postgres.sh"
        state = ROOT / "var" / "pg-ack"
        env = {**os.environ, "CXLOOP_PG_STATE": str(state), "CXLOOP_PG_DURABLE": "1"}
        server_url = subprocess.run(["bash", str(script), "start"], check=True, capture_output=True, text=True,
                                    env=env).stdout.strip()
        stack.callback(subprocess.run, ["bash", str(script), "stop"], capture_output=True, env=env)
        datadir = Path((state / "datadir").read_text().strip()) / "data"
    made = iter(range(1000))

    def new_database() -> str:
        return stack.enter_context(postgres_database(f"cxloop_bench_ack{next(made)}", server_url))

    def database_cpu() -> float:
        if datadir is None:
            return 0.0
        try:
            postmaster = int((datadir / "postmaster.pid").read_text().split()[0])
            # Its own time, and that of its children that have ended.
            total = cpu_seconds(postmaster, ended_children=True)
        except (OSError, ValueError, IndexError):
            return 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                pid = int(stat.parent.name)
                if int(proc_stat(pid)[1]) == postmaster:  # a live backend, checkpointer, WAL writer…
                    total += cpu_seconds(pid)
            except (OSError, ValueError, IndexError):
                continue  # a process that ended meanwhile
        return total

    return new_database, database_cpu


async def _amain(args: argparse.Namespace) -> bool:
    standin = StandInProcess()
    try:
        all_phases = {}
        for mode in args.modes:
            all_phases[mode] = await run_mode(mode, args, standin)
        ephemerals = standin.count("chat.postEphemeral")
    finally:
        standin.close()
    print(f"\n(the stand-in answered {ephemerals} chat.postEphemeral calls: cxloop's refusals of repeat clicks)")
    return report(all_phases, args)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_logs()
    load1 = os.getloadavg()[0]

    print(f"bench_slack_ack: {os.cpu_count()} CPUs, load average {load1:.2f} at start; cxloop's database: "
          f"{args.backend}", flush=True)
    ok = asyncio.run(amain(args))
    print("\nresult:", "all targets met" if ok else "some targets missed (see 'meets')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
