"""Benchmark: one `run-due` pass over many open cases of which a known number are due (not a test).

Builds N in-progress cases (bulk inserts) of which exactly D have their first response overdue at
the instant T (by less than the escalation grace, so each gets exactly one `respond_overdue` nudge)
and the rest are due well after T. Times `run_due_jobs` (the due work) and `handlers.jobs.run_due`
(no chat platform configured, so nothing is delivered), counts the nudges queued (must equal D),
and runs a second pass, which must queue nothing. Target: under 5 s on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import time
from datetime import datetime, timedelta, timezone

from _common import ROOT, migrated_sqlite, quiet_logs, table

T = datetime(2026, 11, 24, 11, 0, tzinfo=timezone.utc)  # a Tuesday, 11:00 UTC
BATCH = 10_000


def build(url: str, n: int, due: int) -> float:
    from sqlalchemy import insert, select
    from sqlmodel import Session

    from bot.config import load_workspace
    from bot.people.roster import sync_workspace, team_members
    from storage.db import make_engine, session_scope
    from storage.models import Case, SurveyResponse

    started = time.perf_counter()
    engine = make_engine(url)
    ws = load_workspace()
    with session_scope(engine) as s:
        sync_workspace(s, ws)
    with Session(engine) as s:
        owners = {t.key: [m.id for m in team_members(s, t.key)] for t in ws.teams}
    teams = [t.key for t in ws.teams]
    naive = lambda d: d  # noqa: E731
    with engine.begin() as conn:
        for start in range(0, n, BATCH):
            rows = range(start, min(n, start + BATCH))
            conn.execute(insert(SurveyResponse), [
                {"source": "bench", "external_id": f"b-{i}", "survey": "nps", "score": 2, "team": teams[i % 3],
                 "touchpoint": None, "responded_at": naive(T - timedelta(days=2)), "received_at": naive(T - timedelta(days=2))}
                for i in rows])
        ids = dict(conn.execute(select(SurveyResponse.external_id, SurveyResponse.id)).all())
        for start in range(0, n, BATCH):
            rows = range(start, min(n, start + BATCH))
            cases = []
            for i in rows:
                team = teams[i % 3]
                is_due = i < due
                opened = T - timedelta(hours=25) if is_due else T - timedelta(hours=1)
                respond_by = T - timedelta(hours=1) if is_due else T + timedelta(days=3)
                cases.append({"response_id": ids[f"b-{i}"], "team": team, "status": "in_progress",
                              "owner_id": owners[team][i % len(owners[team])], "opened_at": naive(opened),
                              "claimed_at": naive(opened), "respond_due_at": naive(respond_by),
                              "resolve_due_at": naive(T + timedelta(days=5)), "round": 0, "version": 1})
            conn.execute(insert(Case), cases)
    engine.dispose()
    return time.perf_counter() - started


def measure(url: str, n: int, due: int) -> list[object]:
    from sqlalchemy import func, select

    from bot.config import Settings, load_workspace
    from bot.machinery.schedule import run_due_jobs
    from handlers.jobs import run_due
    from storage.db import make_engine
    from storage.models import CaseNudge, OutboxMessage

    setup = build(url, n, due)
    engine = make_engine(url)
    ws = load_workspace()

    def nudges() -> tuple[int, int]:
        with engine.connect() as c:
            rows = c.execute(select(func.count()).select_from(CaseNudge)).scalar_one()
            queued = c.execute(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.dedupe_key.like("%_overdue%") | OutboxMessage.dedupe_key.like("%_soon%"))).scalar_one()
        return rows, queued

    from bot.nudges.jobs import queue_due_nudges

    started = time.perf_counter()
    queued = queue_due_nudges(engine, ws, T)
    nudge_s = time.perf_counter() - started
    first = nudges()
    started = time.perf_counter()
    summary = run_due_jobs(engine, ws, T)  # everything else due then too: that week's digests, …
    jobs_s = time.perf_counter() - started
    started = time.perf_counter()
    asyncio.run(run_due(engine, ws, Settings(slack_bot_token=None), at=T + timedelta(minutes=1)))
    second_s = time.perf_counter() - started
    second = nudges()
    engine.dispose()
    ok = first == (due, due) and queued == due and second == first and summary.get("nudges") == 0
    return [url.split(":")[0].split("+")[0], n, due, setup, nudge_s, jobs_s, second_s, first[0], first[1],
            second[1] - first[1], "yes" if ok and nudge_s < 5 else "NO"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, default=100_000)
    p.add_argument("--due", type=int, default=5_000)
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--quick", action="store_true", help="10,000 cases, 500 due")
    a = p.parse_args()
    if a.quick:
        a.cases, a.due = 10_000, 500
    quiet_logs()
    results = []
    if a.backend in ("sqlite", "both"):
        tmp, url = migrated_sqlite("cxloop-bench-run-due-")
        with tmp:
            results.append(measure(url, a.cases, a.due))
    if a.backend in ("postgres", "both"):
        script = ROOT / "scripts" / "postgres.sh"
        url = subprocess.run(["bash", str(script), "start"], check=True, capture_output=True, text=True).stdout.strip()
        try:
            from storage.db import upgrade

            upgrade(url)
            results.append(measure(url, a.cases, a.due))
        finally:
            subprocess.run(["bash", str(script), "stop"], capture_output=True)
    print(f"\nOne run-due pass at {T.isoformat()}; target: the nudge pass under 5 s, nudges queued = due, "
          "later passes queue 0. 'rest of jobs s' is the same instant's other due work (the week's digests "
          "with charts, recognition, Customer Service Week, assistant), once a week.")
    print(table(["backend", "cases", "due", "setup s", "nudge pass s", "rest of jobs s", "next run_due s",
                 "nudge rows", "DMs queued", "again queued", "meets"], results))


if __name__ == "__main__":
    main()
