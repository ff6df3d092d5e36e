#!/usr/bin/env python
"""The CPU one handled alert click costs: `cxloop serve --workers 1`, server and worker process together.

What runs (all on 127.0.0.1):
- the Slack Web API stand-in in a process of its own (its CPU is not counted: Slack is remote);
- a workspace of `--teams` teams (a channel, a manager and three members each; CXLOOP_CONFIG), so
  that Slack's pace of one post a second per channel, which the outbox keeps, does not stretch the
  run: the thread notes of 300 clicks go to 30 channels, not 3;
- a SQLite database migrated into a temp dir, with `--cases` detractor cases over those teams, their
  alerts posted beforehand (by this process, unpaced), so every click carries a real alert;
- the real `cxloop serve --port P --workers 1` as a subprocess (it starts its `cxloop work` process),
  its clock set (CXLOOP_NOW) to a Wednesday morning, inside everyone's working hours.

Then `--cases` signed "Take it" clicks go in, `--concurrency` at a time, each on another case by a
member of that case's team, so each one is handled in full: the case is taken (a transaction), and
the alert edit, the thread note and the owner's DM are queued and delivered; with `--homes-open`
(everyone opened their App Home just before) the owner's and the team manager's Home refreshes too.
The run ends when every inbox item is done and every outbox row is sent (this process polls the
database; its CPU is not counted).

CPU is read from /proc for the server and worker processes (all threads). Both poll the database
while idle, so the idle rate is measured first (`--idle` seconds) and subtracted; it is reported too.
Per click: server ms, worker ms, total. `--profile DIR` records both processes with py-spy
(`pip install py-spy`) during the clicks and writes their top functions there.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_seconds, idle_cpu_rate, migrated_sqlite, quiet_logs, table  # noqa: E402
from bench_slack_ack import SECRET, TOKEN, StandInProcess  # noqa: E402

TARGET_MS = 5.0
NOW = "2026-11-25T10:00:00+00:00"  # a Wednesday, 10:00 UTC: DMs are not held for working hours


def write_workspace(path: Path, teams: int) -> list[str]:
    """A workspace YAML of `teams` teams; returns every person's Slack id."""
    import yaml

    doc: dict[str, Any] = {"timezone": "UTC", "admins": ["U0ADMIN"], "teams": [], "people": {}}
    people = ["U0ADMIN"]
    for t in range(teams):
        key = f"team{t:02d}"
        manager, members = f"U{t:02d}MGR", [f"U{t:02d}M{m}" for m in range(3)]
        doc["teams"].append({"key": key, "slack_channel": f"C{t:02d}TEAM", "touchpoints": [f"tp{t:02d}"],
                             "managers": [manager], "members": members})
        people += [manager, *members]
    doc["default_team"] = "team00"
    doc["people"] = {uid: {"name": f"Person {uid}", "tz": "UTC"} for uid in people}
    path.write_text(yaml.safe_dump(doc))
    return people


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def open_cases(url: str, api_url: str, n: int, config: Path, homes_open: bool) -> list[dict[str, Any]]:
    """Open `n` cases and post their alerts (unpaced); returns what each click needs."""
    from datetime import datetime

    from slack_sdk.web.async_client import AsyncWebClient

    from bot.cases.notify import alert_key
    from bot.config import Settings, load_workspace
    from bot.intake.store import record_response
    from bot.intake.surveys import build_response
    from bot.machinery.runtime import Runtime
    from bot.people.roster import sync_workspace
    from handlers.platforms import make_deliverer
    from storage.db import make_engine, session_scope

    engine = make_engine(url)
    ws = load_workspace(config)
    tps = [t.touchpoints[0] for t in ws.teams]
    with session_scope(engine) as s:
        sync_workspace(s, ws)
    settings = Settings(database_url=url, slack_bot_token=TOKEN, slack_signing_secret=SECRET, slack_api_url=api_url)
    rt = Runtime(engine=engine, workspace=ws, settings=settings)
    cases = []
    for i in range(n):
        tp = tps[i % len(tps)]
        r = build_response({"source": "generic", "external_id": f"cpu-{i:05d}", "survey": "nps", "score": i % 7,
                            "comment": f"Bench complaint {i}: waited too long.", "customer_id": f"c-{i}",
                            "customer_name": f"Customer {i}", "customer_email": f"customer{i}@example.com",
                            "touchpoint": tp, "responded_at": "2026-11-20T10:15:00Z"})
        res = record_response(engine, ws, r)
        assert res.case_id is not None
        cases.append((res.case_id, ws.team(ws.route(tp))))
    if homes_open:
        # Everyone has their App Home on screen: every take refreshes the owner's and the managers' Homes.
        from sqlalchemy import text

        with engine.begin() as conn:
            conn.execute(text("UPDATE member SET home_opened_at = :at"), {"at": datetime.fromisoformat(NOW)})
    deliverer = make_deliverer(rt)
    assert deliverer is not None
    deliverer.ports["slack"].per_channel_gap = 0.0  # type: ignore[attr-defined]
    await deliverer.drain()
    client = AsyncWebClient(token=TOKEN, base_url=api_url)
    by_key: dict[str, tuple[str, dict[str, Any]]] = {}
    for team in ws.teams:
        page = await client.conversations_history(channel=team.slack_channel, include_all_metadata=True, limit=1000)
        for m in page["messages"]:
            key = ((m.get("metadata") or {}).get("event_payload") or {}).get("key")
            if key:
                by_key.setdefault(key, (team.slack_channel, m))
    out = []
    for i, (cid, team) in enumerate(cases):
        channel, message = by_key[alert_key("slack", cid)]
        people = list(team.members) + list(team.managers)
        out.append({"channel": channel, "message": message, "user": people[i // len(tps) % len(people)]})
    engine.dispose()
    return out


def settled(url: str) -> bool:
    """Every stored request handled and every queued message sent."""
    import sqlite3

    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path, timeout=30) as db:
        inbox = db.execute("SELECT count(*) FROM inbox WHERE status = 'pending'").fetchone()[0]
        outbox = db.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()[0]
    return inbox == 0 and outbox == 0


class Serve:
    def __init__(self, url: str, api_url: str, config: Path):
        self.port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
               "SLACK_API_URL": api_url, "CXLOOP_CONFIG": str(config), "CXLOOP_NOW": NOW}
        self.proc = subprocess.Popen([sys.executable, "-m", "handlers.cli", "serve", "--port", str(self.port),
                                      "--workers", "1"], env=env, stdout=subprocess.DEVNULL, start_new_session=True)
        self.worker_pid = 0

    async def ready(self) -> None:
        import aiohttp

        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        for _ in range(600):
            kids = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
            if kids:
                self.worker_pid = int(kids[0])
                return
            await asyncio.sleep(0.1)
        raise RuntimeError("no worker process")

    def cpu(self) -> tuple[float, float]:
        return cpu_seconds(self.proc.pid), cpu_seconds(self.worker_pid)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


async def click_all(url: str, clicks: list[dict[str, Any]], concurrency: int) -> list[int]:
    from standins.slack_sender import SlackSender

    statuses: list[int] = []
    queue = list(clicks)
    async with SlackSender(url, SECRET) as sender:
        async def one() -> None:
            while queue:
                c = queue.pop(0)
                reply = await sender.click(c["user"], c["message"], "case_take", channel=c["channel"])
                statuses.append(reply.status)

        await asyncio.gather(*(one() for _ in range(concurrency)))
    return statuses


def py_spy(pid: int, out: Path, seconds: int) -> subprocess.Popen[bytes]:
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--format", "raw", "--output", str(out),
                             "--duration", str(seconds), "--rate", "250", "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def top_frames(raw: Path, n: int = 25) -> str:
    """Functions by self samples (the leaf of each stack) and by total, from py-spy's raw format."""
    from collections import Counter

    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue  # a line cut short when the recording stopped
        k = int(count)
        frames = stack.split(";")
        if any(w in frames[-1] for w in ("epoll", "select (selectors", "_worker (concurrent", "wait (threading")):
            continue  # idle
        samples += k
        own[frames[-1]] += k
        for f in set(frames):
            total[f] += k
    lines = [f"{samples} busy samples", "self:"]
    lines += [f"  {100 * v / samples:5.1f}%  {f}" for f, v in own.most_common(n)]
    lines.append("total:")
    lines += [f"  {100 * v / samples:5.1f}%  {f}" for f, v in total.most_common(n * 2)]
    return "\n".join(lines)


async def amain(args: argparse.Namespace) -> None:
    standin = StandInProcess()
    tmp, url = migrated_sqlite("cxloop-bench-cpu-")
    server = None
    try:
        from datetime import datetime

        from storage import clock

        clock.install(clock.RunningFrom(datetime.fromisoformat(NOW)))
        config = Path(tmp.name) / "workspace.yaml"
        for uid in write_workspace(config, args.teams):
            standin.add_user(uid)
        clicks = await open_cases(url, standin.api_url, args.cases, config, args.homes_open)
        server = Serve(url, standin.api_url, config)
        await server.ready()
        async def cpu() -> tuple[float, float]:
            return server.cpu()

        # Start-up work (migrations, the first run-due over the new cases) is not a click's.
        idle_s, idle_w = await idle_cpu_rate(cpu, args.idle)
        spies = []
        if args.profile:
            Path(args.profile).mkdir(parents=True, exist_ok=True)
            spies = [(name, py_spy(pid, Path(args.profile) / f"click_cpu.{name}.raw", 600), Path(args.profile))
                     for name, pid in (("server", server.proc.pid), ("worker", server.worker_pid))]
            await asyncio.sleep(1.0)
        started = time.monotonic()
        c0 = server.cpu()
        statuses = await click_all(f"http://127.0.0.1:{server.port}/slack/events", clicks, args.concurrency)
        acked = time.monotonic() - started
        while not await asyncio.to_thread(settled, url):
            await asyncio.sleep(0.05)
        wall = time.monotonic() - started
        c1 = server.cpu()
        for _, spy, _ in spies:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        n = len(clicks)
        srv = (c1[0] - c0[0] - idle_s * wall) / n * 1000
        wrk = (c1[1] - c0[1] - idle_w * wall) / n * 1000
        print(f"{n} clicks, {args.concurrency} in flight: all acknowledged in {acked:.1f} s, all handled and "
              f"delivered in {wall:.1f} s; statuses {sorted(set(statuses))}; "
              f"the stand-in answered {standin.count('chat.update')} chat.update, "
              f"{standin.count('chat.postMessage')} chat.postMessage, {standin.count('views.publish')} views.publish")
        print(table(["process", "CPU ms per click", "idle CPU ms/s (subtracted)", "raw CPU s"],
                    [["server", srv, idle_s * 1000, c1[0] - c0[0]], ["worker", wrk, idle_w * 1000, c1[1] - c0[1]],
                     ["total", srv + wrk, (idle_s + idle_w) * 1000, c1[0] - c0[0] + c1[1] - c0[1]]]))
        print(f"target: < {TARGET_MS:.0f} ms per handled click: {'met' if srv + wrk < TARGET_MS else 'missed'}")
        for name, _, where in spies:
            raw = where / f"click_cpu.{name}.raw"
            if raw.exists():
                report = top_frames(raw)
                (where / f"click_cpu.{name}.txt").write_text(report)
                print(f"\n[{name}] py-spy: {where / f'click_cpu.{name}.txt'}\n" + "\n".join(report.splitlines()[:14]))
    finally:
        if server is not None:
            server.stop()
        standin.close()
        tmp.cleanup()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, default=300, help="cases opened, and clicks sent (default 300)")
    p.add_argument("--concurrency", type=int, default=10, help="clicks in flight (default 10)")
    p.add_argument("--teams", type=int, default=30, help="teams, each with its channel (default 30)")
    p.add_argument("--idle", type=float, default=5.0, help="seconds of idle CPU measured first (default 5)")
    p.add_argument("--homes-open", action="store_true",
                   help="everyone opened their App Home just before, so every take also refreshes Homes")
    p.add_argument("--profile", metavar="DIR", help="record the server and worker with py-spy into DIR")
    args = p.parse_args(argv)
    quiet_logs()
    print(f"bench_click_cpu: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start", flush=True)
    asyncio.run(amain(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
