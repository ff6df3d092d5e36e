#!/usr/bin/env python
"""Outbox drain under Slack's per-channel rate limit: throughput, 429s, lost and duplicated alerts.

Set-up (not timed): a workspace built with bot.config.parse_workspace with `--channels` teams, each
with its own Slack channel and touchpoint; `--alerts` NPS detractor responses spread round-robin
over the touchpoints and stored with bot.intake.record_response, so each opens a case and queues its
alert in the outbox. The database is a SQLite file in a temp dir, or (`--backend postgres`, the
default with more than one worker) a fresh database on a PostgreSQL server (`--postgres-url`, else
a throwaway cluster from scripts/postgres.sh), migrated with storage.db.upgrade.

Timed: `--workers` outbox workers, each a separate OS process (this script with `--as-worker`),
wired as `cxloop work` wires its delivery: handlers.platforms.make_deliverer (the real SlackPort, its
default per_channel_gap of 1.0 s), Deliverer.run_forever, and on PostgreSQL the LISTEN/NOTIFY
wake-ups (handlers.server.listen_for_work). They share nothing but the database, as replicas on
separate machines would. They deliver to the local Slack stand-in (in this process) with
enforce_channel_rate=True, which answers 429 + Retry-After: 1 to a second chat.postMessage in the
same channel within one second. The run ends when no alert is pending in the outbox (or at the
time limit).

Reported:
- elapsed: from the first alert the stand-in stored to the last;
- achieved ÷ allowed, allowed = channels × (1 + elapsed) posts: one post per channel at once, then
  one a second. Perfect pacing scores 1.0;
- 429s received (the stand-in's rejected_429), also as a share of chat.postMessage calls;
- lost: cases with no alert in the stand-in, and alert rows in the outbox never sent;
- duplicated: cases with more than one top-level message carrying their alert key
  (messages carry metadata event_payload.key).
Targets: ratio >= 0.9, 429s <= 1% of posts, lost 0, duplicated 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import migrated_sqlite, percentile, postgres_database, quiet_logs, table  # noqa: E402

TOKEN = "xoxb-bench"
RATIO_TARGET = 0.9
REJECTED_TARGET = 0.01


def workspace_data(channels: int) -> dict[str, Any]:
    teams = [{"key": f"team-{i:02d}", "name": f"Team {i:02d}", "slack_channel": f"C0DRAIN{i:02d}",
              "touchpoints": [f"tp-{i:02d}"]} for i in range(channels)]
    return {"timezone": "UTC", "teams": teams, "default_team": "team-00"}


# ---- one worker process ---------------------------------------------------------------------


async def worker_main(args: argparse.Namespace) -> None:
    """What `cxloop work` runs for delivery: the outbox worker, woken by notifications on PostgreSQL."""
    from bot.config import Settings, parse_workspace
    from bot.machinery.runtime import Runtime
    from handlers.platforms import make_deliverer
    from handlers.serve import LISTENING_POLL, OUTBOX_POLL
    from handlers.server import Services, listen_for_work
    from storage.db import make_engine

    settings = Settings()
    engine = make_engine(settings.database_url)
    ws = parse_workspace(workspace_data(args.channels), origin="bench workspace")
    rt = Runtime(engine=engine, workspace=ws, settings=settings)
    deliverer = make_deliverer(rt)
    assert deliverer is not None, "no delivery port: is Slack configured?"
    if args.gap is not None:
        deliverer.ports["slack"].per_channel_gap = args.gap  # type: ignore[attr-defined]
    listener = listen_for_work(engine, Services(runtime=rt, deliverer=deliverer))
    tasks = [asyncio.create_task(deliverer.run_forever(poll=LISTENING_POLL if listener else OUTBOX_POLL))]
    if listener is not None:
        tasks.append(asyncio.create_task(listener.run()))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# ---- the run --------------------------------------------------------------------------------


def outbox_counts(engine: Any) -> Counter[tuple[str, str]]:
    from sqlalchemy import func, select
    from sqlmodel import Session

    from storage.models import OutboxMessage

    with Session(engine) as s:
        rows = s.execute(select(OutboxMessage.action, OutboxMessage.status, func.count())
                         .group_by(OutboxMessage.action, OutboxMessage.status)).all()
    return Counter({(a, st): n for a, st, n in rows})


async def run(args: argparse.Namespace, url: str) -> bool:
    from sqlalchemy import select
    from sqlmodel import Session

    from bot.cases.notify import alert_key
    from bot.config import parse_workspace
    from bot.intake.store import record_response
    from bot.intake.surveys import build_response
    from bot.people.roster import sync_workspace
    from standins.slack_api import SlackStandIn
    from storage.db import make_engine, session_scope
    from storage.models import Case, OutboxMessage

    ws = parse_workspace(workspace_data(args.channels), origin="bench workspace")
    engine = make_engine(url)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with session_scope(engine) as s:
            sync_workspace(s, ws)
        t0 = time.perf_counter()
        for i in range(args.alerts):
            r = build_response({"source": "generic", "external_id": f"drain-{i:06d}", "survey": "nps",
                                "score": i % 7, "comment": f"Complaint {i}: the parcel never came.",
                                "customer_id": f"c-{i}", "customer_name": f"Customer {i}",
                                "touchpoint": f"tp-{i % args.channels:02d}", "responded_at": "2026-11-20T10:15:00Z"})
            res = record_response(engine, ws, r)
            assert res.case_id is not None, "a detractor response opened no case"
        record_s = time.perf_counter() - t0
        with Session(engine) as s:
            case_ids = list(s.execute(select(Case.id)).scalars())
            queued = [k for k in s.execute(select(OutboxMessage.dedupe_key)).scalars()]
        alert_keys = {alert_key("slack", cid) for cid in case_ids}
        print(f"set-up: {args.alerts} responses recorded in {record_s:.1f} s ({args.alerts / record_s:.0f}/s), "
              f"{len(case_ids)} cases, {len(queued)} outbox rows ({len(alert_keys & set(queued))} alerts)", flush=True)

        async with SlackStandIn(token=TOKEN, enforce_channel_rate=True) as slack:
            for t in ws.teams:
                assert t.slack_channel
                slack.add_channel(t.slack_channel, name=t.key)
            env = {**os.environ, "DATABASE_URL": url, "SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": slack.api_url}
            argv = [sys.executable, __file__, "--as-worker", "--channels", str(args.channels)]
            if args.gap is not None:
                argv += ["--gap", str(args.gap)]
            per_channel = math.ceil(args.alerts / args.channels)
            ideal = max(per_channel - 1, 0) * 1.0  # the stand-in allows one post per second per channel
            limit = args.timeout or (3 * ideal + 60)
            start = time.monotonic()
            # Separate OS processes, sharing nothing but the database, as replicas on several machines.
            procs = [subprocess.Popen(argv, env=env) for _ in range(args.workers)]
            next_report = start + 10
            timed_out = False
            while True:
                await asyncio.sleep(0.2)
                counts = await asyncio.to_thread(outbox_counts, engine)
                pending = sum(n for (_a, st), n in counts.items() if st == "pending")
                now = time.monotonic()
                if pending == 0:
                    break
                if any(p.poll() is not None for p in procs):
                    print("a worker process stopped:", [p.returncode for p in procs], file=sys.stderr)
                    break
                if now - start > limit:
                    timed_out = True
                    break
                if now >= next_report:
                    sent = counts.get(("post", "sent"), 0)
                    print(f"  {now - start:5.0f} s: {sent} sent, {pending} pending, {slack.rejected_429} 429s",
                          flush=True)
                    next_report += 10
            wall_s = time.monotonic() - start
            stop_workers(procs)

            # ---- what the stand-in holds -------------------------------------------------------
            top_level: Counter[str] = Counter()
            for t in ws.teams:
                for m in slack.messages(t.slack_channel or ""):
                    if m.get("thread_ts", m["ts"]) != m["ts"]:
                        continue  # a thread reply
                    key = ((m.get("metadata") or {}).get("event_payload") or {}).get("key")
                    if key:
                        top_level[key] += 1
            ok_posts = [c for c in slack.calls_to("chat.postMessage") if c.status == 200]
            posts_by_channel: dict[str, list[float]] = {}
            for c in ok_posts:
                posts_by_channel.setdefault(str(c.body.get("channel")), []).append(c.at)
            gaps = [b - a for ats in posts_by_channel.values() for a, b in zip(sorted(ats), sorted(ats)[1:])]
            history_calls = len(slack.calls_to("conversations.history"))
            post_calls = len(slack.calls_to("chat.postMessage"))
            rejected = slack.rejected_429
            stored_at = sorted(c.at for c in ok_posts)

        with Session(engine) as s:
            rows = s.execute(select(OutboxMessage.dedupe_key, OutboxMessage.status, OutboxMessage.attempts)
                             .where(OutboxMessage.dedupe_key.in_(alert_keys))).all()
        unsent_rows = sorted(k for k, st, _a in rows if st != "sent")
        attempts = Counter(a for _k, _st, a in rows)
        missing = sorted(alert_keys - set(top_level))
        lost = len(set(missing) | set(unsent_rows))
        duplicated = sum(1 for k in alert_keys if top_level[k] > 1)
        strays = sum(1 for k in top_level if k not in alert_keys)
        delivered = sum(1 for k in alert_keys if top_level[k] >= 1)

        elapsed = (stored_at[-1] - stored_at[0]) if stored_at else float("nan")
        allowed = args.channels * (1 + elapsed)
        ratio = delivered / allowed if stored_at else float("nan")
        best = args.alerts / (args.channels * (1 + ideal))
        rejected_share = rejected / post_calls if post_calls else 0.0
        ok = (ratio >= RATIO_TARGET and rejected_share <= REJECTED_TARGET and lost == 0 and duplicated == 0
              and not timed_out)

        print()
        print(f"Drain of {args.alerts} alerts over {args.channels} channels by {args.workers} worker process(es) on "
              f"{args.backend} (the stand-in enforces 1 chat.postMessage/s per channel).\n"
              f"Targets: ratio >= {RATIO_TARGET}, 429s <= {REJECTED_TARGET:.0%} of posts, lost 0, duplicated 0.")
        print(table(["measure", "value", "target / note"], [
            ["alerts delivered", f"{delivered} / {len(alert_keys)}", ""],
            ["elapsed, s (first alert to last)", elapsed, f"best possible {ideal:.0f} s"],
            ["run time, s (workers started to outbox empty)", wall_s, "timed out" if timed_out else "incl. start-up"],
            ["achieved / allowed", ratio, f">= {RATIO_TARGET} (best possible {best:.3f})"],
            ["429s received", f"{rejected} ({rejected_share:.2%} of posts)", f"<= {REJECTED_TARGET:.0%}"],
            ["lost", lost, f"0 ({len(missing)} not in Slack, {len(unsent_rows)} rows not sent)"],
            ["duplicated", duplicated, "0"],
            ["chat.postMessage calls", post_calls, f"{len(ok_posts)} answered 200"],
            ["conversations.history calls", history_calls, "look-ups after an unclear answer"],
            ["same-channel gap, s: min / p50 / max", f"{min(gaps, default=math.nan):.3f} / "
             f"{percentile(gaps, 50):.3f} / {max(gaps, default=math.nan):.3f}", ">= 1.000 allowed"],
            ["attempts per alert row", " ".join(f"{a}x:{n}" for a, n in sorted(attempts.items())), ""],
            ["unexpected top-level messages", strays, "0"],
        ]))
        if missing[:5] or unsent_rows[:5]:
            print("first lost:", (missing or unsent_rows)[:5])
        print(json.dumps({"bench": "drain", "backend": args.backend, "workers": args.workers, "alerts": args.alerts,
                          "channels": args.channels, "ratio": round(ratio, 3), "rejected_429": rejected,
                          "posts": post_calls, "lost": lost, "duplicated": duplicated}))
        print("\nresult:", "all targets met" if ok else "some targets missed")
        return ok
    finally:
        stop_workers(procs)
        engine.dispose()


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--alerts", type=int, default=1000, help="detractor responses, one alert each (default 1000)")
    p.add_argument("--channels", type=int, default=10, help="teams, each with its own channel (default 10)")
    p.add_argument("--gap", type=float, default=None,
                   help="override SlackPort.per_channel_gap (default: the port's own, 1.0 s)")
    p.add_argument("--timeout", type=float, default=None,
                   help="give up after this many seconds (default 3 × the best possible time + 60 s)")
    p.add_argument("--workers", type=int, default=1,
                   help="outbox worker processes draining at once, as separate replicas would (default 1)")
    p.add_argument("--backend", choices=["sqlite", "postgres"], default=None,
                   help="database (default: postgres with more than one worker, else sqlite)")
    p.add_argument("--postgres-url", default=None,
                   help="a PostgreSQL server whose user may CREATE DATABASE (default: a throwaway cluster "
                        "from scripts/postgres.sh)")
    p.add_argument("--quick", action="store_true", help="a short run: 100 alerts over 10 channels (~15 s)")
    p.add_argument("--as-worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.alerts, args.channels = 100, 10
    if args.alerts < 1 or not 1 <= args.channels <= 99 or args.workers < 1:
        p.error("need --alerts >= 1, 1 <= --channels <= 99 and --workers >= 1")
    args.backend = args.backend or ("postgres" if args.workers > 1 else "sqlite")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_logs()
    if args.as_worker:
        asyncio.run(worker_main(args))
        return 0
    print(f"bench_drain: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start", flush=True)
    if args.backend == "postgres":
        with postgres_database("cxloop_bench_drain", args.postgres_url) as url:
            asyncio.run(run(args, url))
    else:
        tmp, url = migrated_sqlite("cxloop-bench-drain-")
        with tmp:
            asyncio.run(run(args, url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
