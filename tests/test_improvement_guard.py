"""The outer loop's once-only guarantees across processes, and `cxloop improvements` for scripts."""

from __future__ import annotations

import json
import subprocess
import sys

from sqlmodel import Session, select

from bot.config import load_workspace
from bot.improvement.checkins import measurements
from bot.people.roster import sync_workspace
from storage.db import session_scope
from storage.models import ImprovementEvent, ImprovementMeasure, OutboxMessage
from tests.conftest import cli_env
from tests.improvement_data import DAY, HUDDLE_AT, WEEK, add_action, answers, move, start_improvement

HOUR = DAY / 24
GREAT = "great service, thank you"
IMPROVEMENTS = 4


def slipping_improvements(engine) -> tuple[object, object]:
    """Four improvements in Control whose 30-day revisit finds them back inside the baseline's range."""
    ws = load_workspace()
    with session_scope(engine) as s:
        sync_workspace(s, ws)
    answers(engine, ws, [1, 5] * 10, start=HUDDLE_AT - 5 * WEEK, survey="csat", comment=None, every=DAY)
    began = HUDDLE_AT + HOUR
    for n in range(IMPROVEMENTS):
        imp = start_improvement(engine, ws, now=HUDDLE_AT, metric="csat", target="80", touchpoint="phone")
        add_action(engine, ws, imp, due=began + DAY, now=HUDDLE_AT)
        move(engine, ws, imp, "do", now=began)
    answers(engine, ws, [5] * 20, start=began, survey="csat", comment=None)  # 100% satisfied
    assert measurements(engine, ws, began + WEEK) == IMPROVEMENTS
    control = began + WEEK + HOUR
    for n in range(1, IMPROVEMENTS + 1):
        move(engine, ws, n, "control", now=control)
    answers(engine, ws, [1, 5] * 12, start=control, survey="csat", comment=None, every=DAY)  # 50%: slipped
    return ws, control


def test_two_processes_at_the_revisit_alert_each_slip_once(engine, db_url):
    ws, control = slipping_improvements(engine)
    env = cli_env(DATABASE_URL=db_url)
    env.pop("CXLOOP_CONFIG", None)
    at = (control + 30 * DAY).isoformat()
    procs = [subprocess.Popen([sys.executable, "-m", "handlers.cli", "run-due", "--at", at], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    with Session(engine) as s:
        revisits = list(s.exec(select(ImprovementMeasure).where(ImprovementMeasure.kind == "revisit")))
        alerts = list(s.exec(select(ImprovementEvent).where(ImprovementEvent.kind == "regression")))
        queued = [o.dedupe_key for o in s.exec(select(OutboxMessage)) if ":regression:" in o.dedupe_key]
    assert sorted(r.improvement_id for r in revisits) == list(range(1, IMPROVEMENTS + 1))
    assert all(r.regressed and r.n == 24 for r in revisits)
    assert sorted(a.improvement_id for a in alerts) == list(range(1, IMPROVEMENTS + 1))
    # Each: one alert in the team channel's thread and one DM to its owner (Alice), never twice.
    assert len(queued) == len(set(queued)) == 2 * IMPROVEMENTS


def test_cxloop_improvements_prints_them_for_scripts(engine, db_url):
    ws, control = slipping_improvements(engine)
    move(engine, ws, 4, "plan", now=control + HOUR)
    move(engine, ws, 4, "cancelled", now=control + 2 * HOUR, note="Merged into #1")
    env = cli_env(DATABASE_URL=db_url)
    env.pop("CXLOOP_CONFIG", None)
    run = subprocess.run([sys.executable, "-m", "handlers.cli", "improvements", "--team", "support", "--json"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert [r["id"] for r in doc["improvements"]] == [1, 2, 3]  # the cancelled one is not under way
    first = doc["improvements"][0]
    assert first["stage"] == "control" and first["owners"] == ["Alice Martin"] and first["metric"] == "csat"
    assert first["baseline"] == {"value": 50.0, "responses": 20, "low": 29.9, "high": 70.1}
    assert first["latest"]["value"] == 100.0 and first["latest"]["responses"] == 20
    assert first["target"] == {"value": 80.0, "date": (HUDDLE_AT + 60 * DAY).date().isoformat()}
    bad = subprocess.run([sys.executable, "-m", "handlers.cli", "improvements", "--team", "nope"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "there is no team 'nope'" in bad.stderr
    table = subprocess.run([sys.executable, "-m", "handlers.cli", "improvements"], env={**env, "COLUMNS": "200"},
                           capture_output=True, text=True, timeout=120)
    assert table.returncode == 0 and "Fewer callbacks missed" in table.stdout and "50 (20)" in table.stdout
