#!/usr/bin/env python
"""Outbox drain under Slack's per-channel rate limit: throughput, 429s, lost and duplicated alerts.

Set-up (not timed): a workspace built with bot.config.parse_workspace with `--channels` teams, each
with its own Slack channel and touchpoint; `--alerts` NPS detractor responses spread round-robin
over the touchpoints and stored with bot.intake.record_response (SQLite in a temp dir, migrated
with storage.db.upgrade), so each opens a case and queues its alert in the outbox.

Timed: cxloop's outbox worker (bot.outbox.Deliverer.run_forever, wired as `cxloop serve` wires it,
with the real SlackPort and its default per_channel_gap of 1.0 s) delivers to the local Slack
stand-in with enforce_channel_rate=True, which answers 429 + Retry-After: 1 to a second
chat.postMessage in the same channel within one second. The run ends when no alert is pending
in the outbox (or at the time limit).

Reported:
- elapsed: from starting the worker to the stand-in storing the last alert;
- achieved rate ÷ allowed rate, allowed = channels × 1 msg/s. With perfect pacing the n-th
  message of a channel goes out n-1 seconds after the first, so the best possible ratio is
  alerts / (channels × (alerts/channels − 1)), a little over 1;
- 429s received (the stand-in's rejected_429);
- lost: cases with no alert in the stand-in, and alert rows in the outbox never sent;
- duplicated: cases with more than one top-level message carrying their alert key
  (messages carry metadata event_payload.key).
Targets: ratio >= 0.9, lost 0, duplicated 0.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import migrated_sqlite, percentile, quiet_logs, table  # noqa: E402

TOKEN = "xoxb-bench"
RATIO_TARGET = 0.9


def workspace_data(channels: int) -> dict[str, Any]:
    teams = [{"key": f"team-{i:02d}", "name": f"Team {i:02d}", "slack_channel": f"C0DRAIN{i:02d}",
              "touchpoints": [f"tp-{i:02d}"]} for i in range(channels)]
    return {"timezone": "UTC", "teams": teams, "default_team": "team-00"}


def make_deliverer(engine: Any, ws: Any, settings: Any) -> Any:
    """The outbox worker as `cxloop serve` builds it (falls back to the plain wiring on older code)."""
    from bot.runtime import Runtime

    rt = Runtime(engine=engine, workspace=ws, settings=settings)
    try:
        from handlers.serve import make_deliverer as build
    except ImportError:
        build = None
    if build is not None:
        deliverer = build(rt)
    else:
        from bot.outbox import Deliverer
        from handlers.platforms import delivery_ports

        deliverer = Deliverer(engine, delivery_ports(settings))
    assert deliverer is not None, "no delivery port: is Slack configured?"
    return deliverer


def outbox_counts(engine: Any) -> Counter[tuple[str, str]]:
    from sqlalchemy import func, select
    from sqlmodel import Session

    from storage.models import OutboxMessage

    with Session(engine) as s:
        rows = s.execute(select(OutboxMessage.action, OutboxMessage.status, func.count())
                         .group_by(OutboxMessage.action, OutboxMessage.status)).all()
    return Counter({(a, st): n for a, st, n in rows})


async def run(args: argparse.Namespace) -> bool:
    from sqlalchemy import select
    from sqlmodel import Session

    from bot.config import Settings, parse_workspace
    from bot.intake import record_response
    from bot.notify import alert_key
    from bot.roster import sync_workspace
    from bot.surveys import build_response
    from standins.slack_api import SlackStandIn
    from storage.db import make_engine, session_scope
    from storage.models import Case, OutboxMessage

    ws = parse_workspace(workspace_data(args.channels), origin="bench workspace")
    tmp, url = migrated_sqlite("cxloop-bench-drain-")
    engine = make_engine(url)
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
            settings = Settings(database_url=url, slack_bot_token=TOKEN, slack_api_url=slack.api_url)
            # One worker per replica; each has its own port, pacing state and worker id, as separate
            # `cxloop serve` processes would.
            deliverers = [make_deliverer(engine, ws, settings) for _ in range(args.workers)]
            for d in deliverers:
                if args.gap is not None:
                    d.ports["slack"].per_channel_gap = args.gap
            gap = deliverers[0].ports["slack"].per_channel_gap

            per_channel = math.ceil(args.alerts / args.channels)
            ideal = max(per_channel - 1, 0) * 1.0  # the stand-in allows one post per second per channel
            limit = args.timeout or (3 * ideal + 60)
            start_wall, start = time.time(), time.monotonic()
            workers = [asyncio.create_task(d.run_forever()) for d in deliverers]
            next_report = start + 10
            timed_out = False
            while True:
                await asyncio.sleep(0.2)
                counts = await asyncio.to_thread(outbox_counts, engine)
                pending = sum(n for (_a, st), n in counts.items() if st == "pending")
                now = time.monotonic()
                if pending == 0:
                    break
                if any(w.done() for w in workers):
                    print("an outbox worker stopped:", [w.exception() for w in workers if w.done()], file=sys.stderr)
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
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

            # ---- what the stand-in holds -------------------------------------------------------
            top_level: Counter[str] = Counter()
            stored_at: list[float] = []
            posts_by_channel: dict[str, list[float]] = {}
            for t in ws.teams:
                for m in slack.messages(t.slack_channel or ""):
                    if m.get("thread_ts", m["ts"]) != m["ts"]:
                        continue  # a thread reply
                    key = ((m.get("metadata") or {}).get("event_payload") or {}).get("key")
                    if key:
                        top_level[key] += 1
            ok_posts = [c for c in slack.calls_to("chat.postMessage") if c.status == 200]
            for c in ok_posts:
                stored_at.append(c.at)
                posts_by_channel.setdefault(str(c.body.get("channel")), []).append(c.at)
            gaps = [b - a for ats in posts_by_channel.values() for a, b in zip(sorted(ats), sorted(ats)[1:])]
            history_calls = len(slack.calls_to("conversations.history"))
            post_calls = len(slack.calls_to("chat.postMessage"))
            rejected = slack.rejected_429

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

        elapsed = (max(stored_at) - start_wall) if stored_at else float("nan")
        allowed = args.channels * 1.0
        achieved = delivered / elapsed if elapsed and elapsed > 0 else float("nan")
        ratio = achieved / allowed
        best = args.alerts / (args.channels * ideal) if ideal else float("nan")
        ok = (ratio >= RATIO_TARGET and lost == 0 and duplicated == 0 and not timed_out)

        print()
        print(f"Drain of {args.alerts} alerts over {args.channels} channels by {args.workers} worker(s) (stand-in "
              f"enforces 1 chat.postMessage/s per channel; per_channel_gap {gap} s).\n"
              f"Targets: ratio >= {RATIO_TARGET}, lost 0, duplicated 0.")
        print(table(["measure", "value", "target / note"], [
            ["alerts delivered", f"{delivered} / {len(alert_keys)}", ""],
            ["elapsed, s (worker start to last alert)", elapsed, f"best possible {ideal:.0f} s"],
            ["run time, s (until outbox empty)", wall_s, "timed out" if timed_out else ""],
            ["achieved rate, msg/s", achieved, f"allowed {allowed:.0f} msg/s"],
            ["achieved / allowed", ratio, f">= {RATIO_TARGET} (best possible {best:.3f})"],
            ["429s received", rejected, "0 expected with correct pacing"],
            ["lost", lost, f"0 ({len(missing)} not in Slack, {len(unsent_rows)} rows not sent)"],
            ["duplicated", duplicated, "0"],
            ["chat.postMessage calls", post_calls, f"{len(ok_posts)} answered 200"],
            ["conversations.history calls", history_calls, "find_sent checks after a retry"],
            ["same-channel gap, s: min / p50 / max", f"{min(gaps, default=math.nan):.3f} / "
             f"{percentile(gaps, 50):.3f} / {max(gaps, default=math.nan):.3f}", ">= 1.000 allowed"],
            ["attempts per alert row", " ".join(f"{a}x:{n}" for a, n in sorted(attempts.items())), ""],
            ["unexpected top-level messages", strays, "0"],
        ]))
        if missing[:5] or unsent_rows[:5]:
            print("first lost:", (missing or unsent_rows)[:5])
        print("\nresult:", "all targets met" if ok else "some targets missed")
        return ok
    finally:
        engine.dispose()
        tmp.cleanup()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--alerts", type=int, default=1000, help="detractor responses, one alert each (default 1000)")
    p.add_argument("--channels", type=int, default=10, help="teams, each with its own channel (default 10)")
    p.add_argument("--gap", type=float, default=None,
                   help="override SlackPort.per_channel_gap (default: the port's own, 1.0 s)")
    p.add_argument("--timeout", type=float, default=None,
                   help="give up after this many seconds (default 3 × the best possible time + 60 s)")
    p.add_argument("--workers", type=int, default=1,
                   help="outbox workers draining at once, as separate replicas would (default 1)")
    p.add_argument("--quick", action="store_true", help="a short run: 100 alerts over 10 channels (~10 s)")
    args = p.parse_args(argv)
    if args.quick:
        args.alerts, args.channels = 100, 10
    if args.alerts < 1 or not 1 <= args.channels <= 99 or args.workers < 1:
        p.error("need --alerts >= 1, 1 <= --channels <= 99 and --workers >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_logs()
    print(f"bench_drain: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start", flush=True)
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
