#!/usr/bin/env python
"""Chaos: replicas killed with SIGKILL, a Slack that fails a fifth of its posts, every webhook twice.

Set-up (not timed): a throwaway PostgreSQL cluster (scripts/postgres.sh, its own state directory),
a workspace of `--channels` teams each with its own Slack channel and touchpoint, and the Slack Web
API stand-in (standins/slack_api.py) in this process, enforcing one post per second per channel
and failing `--fault-rate` of chat.postMessage and chat.update calls at random: a third 429 with
Retry-After, a third 500 before doing anything, a third 500 after doing the work (the caller
cannot tell those two apart, so a retry must look before it posts again).

Run: `--replicas` copies of `cxloop serve --workers 1` (each a server and a worker process, in
their own process group) on one database. `--webhooks` signed NPS detractor responses go to
`/webhooks/generic`, each sent twice, to two different replicas; a request that fails because its
replica is down is sent to another one until it is answered. Every ~`--kill-every` seconds a
random replica is killed with SIGKILL (server and worker at once) and started again. Killing goes
on until every alert is out.

Reported: webhooks answered 202 / 200, cases opened (must equal --webhooks), alerts lost (cases
with no alert in the stand-in) and duplicated (alert keys posted more than once), 429s answered,
faults injected by kind, kills, time from the first webhook to the last alert, outbox rows failed.
Targets: lost 0, duplicated 0, cases = webhooks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, quiet_logs, table  # noqa: E402

TOKEN = "xoxb-chaos"
SIGNING_SECRET = "chaos-signing-secret"
WEBHOOK_SECRET = "chaos-webhook-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def workspace_yaml(channels: int) -> str:
    teams = [{"key": f"team-{i:02d}", "name": f"Team {i:02d}", "slack_channel": f"C0CHAOS{i:02d}",
              "touchpoints": [f"tp-{i:02d}"]} for i in range(channels)]
    return json.dumps({"timezone": "UTC", "teams": teams, "default_team": "team-00"})  # JSON is YAML


class Replica:
    """One `cxloop serve --workers 1`, in a process group of its own so SIGKILL takes the worker too."""

    def __init__(self, n: int, env: dict[str, str], log_dir: Path):
        self.n = n
        self.port = free_port()
        self.env = env
        self.log = open(log_dir / f"replica-{n}.log", "ab")
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "handlers.cli", "serve", "--port", str(self.port), "--workers", "1"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


async def wait_healthy(session: Any, replica: Replica, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with session.get(replica.url + "/healthz") as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"replica {replica.n} did not become healthy; see its log")


async def send_webhooks(session: Any, replicas: list[Replica], n: int, channels: int, rate: float,
                        statuses: Counter[int]) -> None:
    from handlers.intake.signing import sign_generic

    async def deliver(body: bytes, first: int) -> None:
        order = [replicas[(first + k) % len(replicas)] for k in range(len(replicas))]
        attempt = 0
        while True:
            replica = order[attempt % len(order)]
            attempt += 1
            try:
                async with session.post(replica.url + "/webhooks/generic", data=body, timeout=10,
                                        headers={"Content-Type": "application/json",
                                                 "X-Cxloop-Signature": sign_generic(body, WEBHOOK_SECRET)}) as r:
                    if r.status < 500:
                        statuses[r.status] += 1
                        return
            except Exception:
                pass  # that replica is down (or died mid-request): the next one gets it
            await asyncio.sleep(0.2)

    tasks = []
    started = time.monotonic()
    for i in range(n):
        body = json.dumps({"id": f"chaos-{i}", "survey": "nps", "score": 2, "comment": "Still waiting.",
                           "touchpoint": f"tp-{i % channels:02d}",
                           "responded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}).encode()
        first = random.randrange(len(replicas))
        tasks.append(asyncio.create_task(deliver(body, first)))
        tasks.append(asyncio.create_task(deliver(body, first + 1)))  # the same response, to another replica
        await asyncio.sleep(max(0.0, started + (i + 1) / rate - time.monotonic()))
    await asyncio.gather(*tasks)


def alert_counts(slack: Any, channels: int) -> Counter[str]:
    seen: Counter[str] = Counter()
    for i in range(channels):
        for m in slack.messages(f"C0CHAOS{i:02d}"):
            key = ((m.get("metadata") or {}).get("event_payload") or {}).get("key", "")
            if key.endswith(":alert") and not m.get("thread_ts"):
                seen[key] += 1
    return seen


def db_counts(url: str) -> dict[str, int]:
    from sqlalchemy import func, select
    from sqlmodel import Session

    from storage.db import make_engine
    from storage.models import Case, OutboxMessage

    engine = make_engine(url)
    try:
        with Session(engine) as s:
            cases = s.execute(select(func.count()).select_from(Case)).scalar_one()
            by_status = dict(s.execute(select(OutboxMessage.status, func.count()).where(
                OutboxMessage.dedupe_key.like("slack:case:%:alert")).group_by(OutboxMessage.status)).all())
    finally:
        engine.dispose()
    return {"cases": cases, **{f"alerts_{k}": v for k, v in by_status.items()}}


async def run(a: argparse.Namespace, url: str, log_dir: Path) -> list[list[Any]]:
    import aiohttp

    from standins.slack_api import SlackStandIn

    config = log_dir / "workspace.yaml"
    config.write_text(workspace_yaml(a.channels))
    with SlackStandIn.in_thread(token=TOKEN, enforce_channel_rate=True) as slack:
        for i in range(a.channels):
            slack.add_channel(f"C0CHAOS{i:02d}", name=f"team-{i:02d}")
        slack.chaos(a.fault_rate, seed=a.seed)
        env = {**os.environ, "DATABASE_URL": url, "CXLOOP_CONFIG": str(config), "SLACK_BOT_TOKEN": TOKEN,
               "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.api_url,
               "CXLOOP_WEBHOOK_SECRET": WEBHOOK_SECRET, "PYTHONUNBUFFERED": "1"}
        replicas = [Replica(i, env, log_dir) for i in range(a.replicas)]
        statuses: Counter[int] = Counter()
        async with aiohttp.ClientSession() as session:
            for r in replicas:
                r.start()
            await asyncio.gather(*(wait_healthy(session, r) for r in replicas))
            drained = asyncio.Event()

            async def chaos_monkey() -> None:
                while not drained.is_set():
                    await asyncio.sleep(a.kill_every * random.uniform(0.5, 1.5))
                    if drained.is_set():
                        return
                    victim = random.choice(replicas)
                    victim.kill()
                    victim.start()

            started = time.monotonic()
            monkey = asyncio.create_task(chaos_monkey()) if a.kill_every > 0 else None
            await send_webhooks(session, replicas, a.webhooks, a.channels, a.rate, statuses)
            sent_s = time.monotonic() - started
            last_alert = started
            deadline = started + a.timeout
            while time.monotonic() < deadline:
                seen = alert_counts(slack, a.channels)
                if len(seen) >= a.webhooks:
                    last_alert = time.monotonic()
                    break
                await asyncio.sleep(1.0)
            drained.set()
            if monkey is not None:
                monkey.cancel()
            # A last look for duplicates: anything still in flight has a few seconds to show itself.
            await asyncio.sleep(5.0)
            for r in replicas:
                r.stop()
        seen = alert_counts(slack, a.channels)
        counts = db_counts(url)
        lost = a.webhooks - len(seen)
        duplicated = sum(c - 1 for c in seen.values() if c > 1)
        ok = lost == 0 and duplicated == 0 and counts["cases"] == a.webhooks
        return [[a.webhooks, statuses.get(202, 0), statuses.get(200, 0), counts["cases"], len(seen), lost, duplicated,
                 slack.rejected_429, "/".join(str(slack.chaos_counts[k]) for k in ("429", "500_before", "500_after")),
                 sum(r.kills for r in replicas), round(sent_s, 1),
                 round(last_alert - started, 1) if not lost else "-", counts.get("alerts_failed", 0),
                 "yes" if ok else "NO"]]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--webhooks", type=int, default=1000)
    p.add_argument("--replicas", type=int, default=3)
    p.add_argument("--channels", type=int, default=20, help="team channels (Slack allows 1 post/s in each)")
    p.add_argument("--rate", type=float, default=25.0, help="new responses per second")
    p.add_argument("--fault-rate", type=float, default=0.2)
    p.add_argument("--kill-every", type=float, default=10.0, help="seconds between kills (0: none)")
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--quick", action="store_true", help="200 webhooks over 10 channels")
    a = p.parse_args()
    if a.quick:
        a.webhooks, a.channels = 200, 10
    random.seed(a.seed)
    quiet_logs()
    script = ROOT / "scripts" / "postgres.sh"
    env = {**os.environ, "CXLOOP_PG_STATE": str(ROOT / "var" / "pg-chaos")}
    url = subprocess.run(["bash", str(script), "start"], check=True, capture_output=True, text=True,
                         env=env).stdout.strip()
    try:
        from storage.db import upgrade

        upgrade(url)
        with tempfile.TemporaryDirectory(prefix="cxloop-chaos-") as tmp:
            rows = asyncio.run(run(a, url, Path(tmp)))
            if rows[0][-1] != "yes":
                for log in sorted(Path(tmp).glob("replica-*.log")):
                    print(f"--- {log.name} (last lines)\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
    finally:
        subprocess.run(["bash", str(script), "stop"], capture_output=True, env=env)
    print(f"\n{a.replicas} replicas on PostgreSQL, one killed with SIGKILL every ~{a.kill_every:g} s; the Slack "
          f"stand-in fails {a.fault_rate:.0%} of posts and edits; each webhook sent twice to different replicas.")
    print(table(["webhooks", "202", "200", "cases", "alerts", "lost", "duplicated", "429s",
                 "faults 429/500/500-after", "kills", "sending s", "to last alert s", "failed rows", "meets"], rows))


if __name__ == "__main__":
    main()
