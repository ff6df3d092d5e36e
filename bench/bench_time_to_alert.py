#!/usr/bin/env python
"""Time to alert: from a survey tool's webhook POST to the alert posted in the team's Slack channel.

Set-up: `cxloop serve --workers 1` as deployed (a child process: the HTTP server plus one worker
process), on a fresh SQLite file or a fresh PostgreSQL database (`--postgres-url`, else a throwaway
cluster from scripts/postgres.sh), with a workspace of `--channels` teams, each with its own Slack
channel and touchpoint, and the Slack Web API stand-in (in this process, on its own thread)
enforcing Slack's one chat.postMessage per second per channel. Intake is signed
(CXLOOP_WEBHOOK_SECRET). The workspace's weekly digest is scheduled so none falls due in the run.

Load: `--rate` signed `POST /webhooks/generic` a second for `--seconds`, on a fixed schedule (not
waiting for answers). `--detractors` of them (default 40%) are NPS detractors, each opening a case
whose alert goes to the next channel in turn: 8 alerts a second over 10 channels, 0.8 a second
per channel, inside Slack's limit. The rest are promoters and passives (stored and scored, no alert).

Measured, per alert: from just before its webhook POST was sent to the moment the stand-in
received its chat.postMessage (the 202's `case_id` names the alert's key); p50, p99 and max. Also:
the webhook's own answer time, 429s, alerts lost (never posted) and duplicated. On PostgreSQL the
worker is woken by LISTEN/NOTIFY when the server queues an alert; on SQLite it polls (every 0.25 s).
Target: p99 < 1.5 s on both.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, percentile, postgres_database, quiet_logs, table  # noqa: E402

TOKEN = "xoxb-bench"
SIGNING = "bench-signing-secret"
WEBHOOK_SECRET = "bench-webhook-secret"
P99_TARGET = 1.5


def workspace_yaml(channels: int) -> str:
    """Teams with a channel and a touchpoint each; no digest or Customer Service Week during the run."""
    # The digest falls due 12 hours from now, and the one before is more than the 6 days old that
    # bot/reporting/digest.py catches up on: nothing is posted besides the alerts.
    due = datetime.now(timezone.utc) + timedelta(hours=12)
    teams = [{"key": f"team-{i:02d}", "name": f"Team {i:02d}", "slack_channel": f"C0ALERT{i:02d}",
              "touchpoints": [f"tp-{i:02d}"]} for i in range(channels)]
    data = {"timezone": "UTC", "teams": teams, "default_team": "team-00",
            "digest": {"day": due.weekday(), "time": due.strftime("%H:%M")}, "cs_week": {"enabled": False}}
    return json.dumps(data)  # JSON is YAML


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`cxloop serve --workers 1` in a child process."""

    def __init__(self, url: str, config: Path, api_url: str, workers: int):
        self.port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "CXLOOP_CONFIG": str(config), "SLACK_BOT_TOKEN": TOKEN,
               "SLACK_SIGNING_SECRET": SIGNING, "SLACK_API_URL": api_url, "CXLOOP_WEBHOOK_SECRET": WEBHOOK_SECRET}
        env.pop("CXLOOP_NOW", None)
        self.lines: list[str] = []
        self.proc = subprocess.Popen([sys.executable, "-m", "handlers.cli", "serve", "--port", str(self.port),
                                      "--workers", str(workers)], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    async def ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not any("cxloop worker" in line and "running" in line for line in self.lines):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("cxloop serve did not start:\n" + "\n".join(self.lines[-30:]))
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Cxloop-Signature": f"sha256={digest}"}


async def load(base: str, args: argparse.Namespace) -> tuple[dict[int, float], list[float], Counter[int]]:
    """Send the webhooks on schedule; returns case id -> send time, answer times, statuses."""
    import aiohttp

    sent_at: dict[int, float] = {}
    answers: list[float] = []
    statuses: Counter[int] = Counter()
    total = int(args.rate * args.seconds)
    in_five = round(args.detractors * 5)  # 0.4: the first two of every five

    async def one(session: aiohttp.ClientSession, k: int) -> None:
        detractor = k % 5 < in_five
        d = (k // 5) * in_five + k % 5  # a detractor's running number: its channel, in turn
        payload = {"id": f"tta-{os.getpid()}-{k:06d}", "survey": "nps",
                   "score": (k % 7) if detractor else 9 + (k % 2),
                   "comment": "Nobody called me back about the refund." if detractor else "Quick and easy, thanks.",
                   "customer": {"id": f"c-{k}", "name": f"Customer {k}", "email": f"c{k}@example.com"},
                   "touchpoint": f"tp-{(d % args.channels) if detractor else (k % args.channels):02d}",
                   "responded_at": datetime.now(timezone.utc).isoformat()}
        body = json.dumps(payload).encode()
        t = time.time()
        async with session.post(f"{base}/webhooks/generic", data=body, headers=signed(body)) as r:
            doc = await r.json(content_type=None)
        answers.append(time.time() - t)
        statuses[r.status] += 1
        if r.status == 202 and doc.get("case_id"):
            sent_at[int(doc["case_id"])] = t

    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.monotonic()
        tasks = []
        for k in range(total):
            delay = start + k / args.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(session, k)))
        await asyncio.gather(*tasks)
    return sent_at, answers, statuses


async def measure(backend: str, url: str, args: argparse.Namespace) -> list[Any]:
    from standins.slack_api import SlackStandIn

    with tempfile.TemporaryDirectory(prefix="cxloop-bench-tta-") as tmp, \
            SlackStandIn.in_thread(token=TOKEN, enforce_channel_rate=True) as slack:
        config = Path(tmp) / "workspace.yaml"
        config.write_text(workspace_yaml(args.channels))
        for i in range(args.channels):
            slack.add_channel(f"C0ALERT{i:02d}", name=f"team-{i:02d}")
        server = Server(url, config, slack.api_url, args.workers)
        try:
            await server.ready()
            await asyncio.sleep(3)  # the worker's first scheduled run-due pass (nothing due) is over
            wakeups = next((line for line in server.lines if "wake-ups:" in line), "")
            print(f"[{backend}] {wakeups.strip()}", flush=True)
            sent_at, answers, statuses = await load(f"http://127.0.0.1:{server.port}", args)
            keys = {f"slack:case:{cid}:alert": cid for cid in sent_at}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                posted = {((c.body.get("metadata") or {}).get("event_payload") or {}).get("key")
                          for c in slack.calls_to("chat.postMessage") if c.status == 200}
                if set(keys) <= posted:
                    break
                await asyncio.sleep(0.2)
        finally:
            server.stop()
        first_post: dict[str, float] = {}
        posts: Counter[str] = Counter()
        for i in range(args.channels):
            for m in slack.messages(f"C0ALERT{i:02d}"):
                key = ((m.get("metadata") or {}).get("event_payload") or {}).get("key")
                if key:
                    posts[key] += 1
        for c in slack.calls_to("chat.postMessage"):
            key = ((c.body.get("metadata") or {}).get("event_payload") or {}).get("key")
            if c.status == 200 and key in keys and key not in first_post:
                first_post[key] = c.at
        latencies = [first_post[k] - sent_at[cid] for k, cid in keys.items() if k in first_post]
        lost = sum(1 for k in keys if k not in first_post)
        duplicated = sum(1 for k in keys if posts[k] > 1)
        p99 = percentile(latencies, 99)
        ok = p99 < P99_TARGET and lost == 0 and duplicated == 0 and set(statuses) <= {202}
        row = [backend, sum(statuses.values()), len(keys), percentile(latencies, 50), p99, max(latencies, default=float("nan")),
               percentile(answers, 50) * 1000, percentile(answers, 99) * 1000, slack.rejected_429, lost, duplicated,
               "yes" if ok else "NO"]
        print(f"[{backend}] statuses {dict(statuses)}", flush=True)
        print(json.dumps({"bench": "time_to_alert", "backend": backend, "alerts": len(keys),
                          "p50_s": round(percentile(latencies, 50), 3), "p99_s": round(p99, 3),
                          "rejected_429": slack.rejected_429, "lost": lost, "duplicated": duplicated}), flush=True)
        return row


async def run(args: argparse.Namespace) -> None:
    rows = []
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="cxloop-bench-tta-db-") as tmp:
            rows.append(await measure("sqlite", f"sqlite:///{Path(tmp) / 'cxloop.db'}", args))
    if args.backend in ("postgres", "both"):
        with postgres_database("cxloop_bench_tta", args.postgres_url) as url:
            rows.append(await measure("postgres", url, args))
    print(f"\nTime to alert at {args.rate:g} responses/s ({args.detractors:.0%} detractors) over {args.channels} "
          f"channels for {args.seconds:g} s, `cxloop serve --workers {args.workers}`; target p99 < {P99_TARGET} s.")
    print(table(["backend", "webhooks", "alerts", "p50 s", "p99 s", "max s", "webhook p50 ms", "webhook p99 ms",
                 "429s", "lost", "duplicated", "meets"], rows))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--rate", type=float, default=20.0, help="webhooks a second (default 20)")
    p.add_argument("--seconds", type=float, default=60.0, help="how long the load runs (default 60)")
    p.add_argument("--channels", type=int, default=10, help="team channels (default 10)")
    p.add_argument("--detractors", type=float, default=0.4,
                   help="share of responses that are detractors, in fifths (default 0.4: 0.8 alerts/s per channel)")
    p.add_argument("--workers", type=int, default=1, help="`cxloop serve --workers N` (default 1)")
    p.add_argument("--postgres-url", default=None,
                   help="a PostgreSQL server whose user may CREATE DATABASE (default: a throwaway cluster)")
    p.add_argument("--quick", action="store_true", help="15 s of load instead of 60")
    args = p.parse_args(argv)
    if args.quick:
        args.seconds = 15.0
    if not 0 < args.detractors <= 1 or args.rate <= 0 or args.channels < 1 or args.workers < 1:
        p.error("need 0 < --detractors <= 1, --rate > 0, --channels >= 1 and --workers >= 1")
    quiet_logs()
    print(f"bench_time_to_alert: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start", flush=True)
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
