"""Scores exactly as README.md defines them, hand-computed, through SQL and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from itertools import count

import pytest

from bot.config import load_workspace
from bot.intake.store import store_response
from bot.intake.surveys import build_response
from bot.reporting.scores import (
    CesScore,
    CsatScore,
    NpsScore,
    compute_scores,
    round_half_away,
)
from storage.db import session_scope
from tests.conftest import cli_env

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)  # a Monday
_ids = count(1)


def add(engine, survey: str, scores: list[int], *, touchpoint: str = "phone", at: datetime = T0) -> None:
    ws = load_workspace()
    with session_scope(engine) as s:
        for sc in scores:
            store_response(s, ws, build_response({
                "source": "test", "external_id": f"x{next(_ids)}", "survey": survey, "score": sc,
                "touchpoint": touchpoint, "responded_at": at.isoformat()}))


def test_rounding_is_half_away_from_zero():
    assert round_half_away(Fraction(165, 2), 0) == 83          # 82.5 -> 83
    assert round_half_away(Fraction(25, 2), 0) == 13           # 12.5 -> 13
    assert round_half_away(Fraction(-9, 4), 1) == -2.3         # -2.25 -> -2.3
    assert round_half_away(Fraction(9, 4), 1) == 2.3
    assert round_half_away(Fraction(1, 3) * 100, 1) == 33.3


def test_design_examples():
    assert NpsScore(120, 50, 40, 30).score == 16.7
    assert CsatScore(40, 33).score == 83
    assert CesScore(25, 18).score == 72.0
    assert NpsScore().score is None and CsatScore().score is None and CesScore().score is None


def test_nps_csat_ces_in_sql(engine):
    add(engine, "nps", [0, 6, 7, 8, 9, 10, 10, 3])                 # p=3 pa=2 d=3 -> 0.0
    add(engine, "csat", [5, 4, 4, 3, 2, 1, 5, 4])                  # 5/8 = 62.5 -> 63
    add(engine, "ces", [1, 2, 3, 4, 5, 5])                         # 3/6 = 50.0
    (g,) = compute_scores(engine)
    assert g.key == "all"
    assert g.nps.as_dict() == {"responses": 8, "promoters": 3, "passives": 2, "detractors": 3, "score": 0.0}
    assert g.csat.as_dict() == {"responses": 8, "satisfied": 5, "score": 63}
    assert g.ces.as_dict() == {"responses": 6, "agree": 3, "score": 50.0}


def test_negative_nps_half_rounds_away_from_zero(engine):
    # 400 answers, 9 more detractors than promoters: -2.25 -> -2.3
    add(engine, "nps", [10] * 100 + [0] * 109 + [8] * 191)
    (g,) = compute_scores(engine)
    assert (g.nps.promoters, g.nps.detractors, g.nps.score) == (100, 109, -2.3)


def test_grouping_by_team_touchpoint_and_survey(engine):
    add(engine, "nps", [10, 10, 2], touchpoint="phone")     # support
    add(engine, "nps", [1], touchpoint="refund")            # billing
    add(engine, "csat", [5, 1], touchpoint="refund")
    add(engine, "ces", [4], touchpoint="web")                # unrouted -> default team (support)
    by_team = {g.key: g for g in compute_scores(engine, by="team")}
    assert set(by_team) == {"support", "billing"}
    assert by_team["support"].nps.score == 33.3 and by_team["support"].ces.score == 100.0
    assert by_team["billing"].nps.score == -100.0 and by_team["billing"].csat.score == 50
    assert by_team["support"].csat.score is None            # no CSAT answers: null, not 0
    by_tp = {g.key: g for g in compute_scores(engine, by="touchpoint")}
    assert set(by_tp) == {"phone", "refund", "web"}
    by_survey = {g.key: g for g in compute_scores(engine, by="survey")}
    assert by_survey["nps"].nps.responses == 4 and by_survey["nps"].csat.score is None
    assert by_survey["csat"].csat.responses == 2


def test_since_inclusive_until_exclusive(engine):
    add(engine, "nps", [10], at=T0)
    add(engine, "nps", [0], at=T0 + timedelta(days=7))
    (g,) = compute_scores(engine, since=T0, until=T0 + timedelta(days=7))
    assert (g.nps.responses, g.nps.score) == (1, 100.0)
    (g,) = compute_scores(engine, since=T0 + timedelta(days=7))
    assert (g.nps.responses, g.nps.score) == (1, -100.0)


def test_empty_period_says_so(engine):
    (g,) = compute_scores(engine, since=T0, until=T0 + timedelta(days=1))
    assert g.responses == 0 and g.nps.score is None and g.csat.score is None and g.ces.score is None
    assert compute_scores(engine, since=T0, until=T0 + timedelta(days=1), by="team") == []


def cli(db_url: str, *args: str) -> subprocess.CompletedProcess:
    env = cli_env(DATABASE_URL=db_url)
    env.pop("CXLOOP_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "handlers.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_cli_json_document(engine, db_url):
    add(engine, "nps", [10, 10, 9, 0], touchpoint="phone")
    add(engine, "csat", [5, 4, 2], touchpoint="refund")
    run = cli(db_url, "scores", "--since", "2026-11-01", "--until", "2026-11-08T00:00:00Z", "--by", "team", "--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["since"] == "2026-11-01T00:00:00Z"   # midnight in Europe/London (GMT in November)
    assert doc["until"] == "2026-11-08T00:00:00Z"
    assert doc["by"] == "team"
    assert doc["groups"] == [
        {"key": "billing", "nps": {"responses": 0, "promoters": 0, "passives": 0, "detractors": 0, "score": None},
         "csat": {"responses": 3, "satisfied": 2, "score": 67}, "ces": {"responses": 0, "agree": 0, "score": None}},
        {"key": "support", "nps": {"responses": 4, "promoters": 3, "passives": 0, "detractors": 1, "score": 50.0},
         "csat": {"responses": 0, "satisfied": 0, "score": None}, "ces": {"responses": 0, "agree": 0, "score": None}},
    ]


def test_cli_table_and_errors(engine, db_url):
    run = cli(db_url, "scores", "--since", "2026-11-01")
    assert run.returncode == 0 and "No responses" in run.stdout
    add(engine, "nps", [10], touchpoint="phone")
    run = cli(db_url, "scores", "--by", "team")
    assert run.returncode == 0 and "support" in run.stdout and "+100.0" in run.stdout
    bad = cli(db_url, "scores", "--since", "last tuesday")
    assert bad.returncode == 2 and "--since" in bad.stderr and "last tuesday" in bad.stderr
    backwards = cli(db_url, "scores", "--since", "2026-11-08", "--until", "2026-11-01")
    assert backwards.returncode == 2 and "before --until" in backwards.stderr


def test_run_due_reads_the_clock_it_is_given(db_url):
    """CXLOOP_NOW moves the whole process's clock: `run-due` without --at works at that instant."""
    env = cli_env(DATABASE_URL=db_url, CXLOOP_NOW="2031-02-03T04:05:06Z")
    env.pop("CXLOOP_CONFIG", None)
    run = subprocess.run([sys.executable, "-m", "handlers.cli", "run-due"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["at"].startswith("2031-02-03T04:05:0")


def test_a_clock_that_is_not_an_instant_is_refused(db_url):
    env = cli_env(DATABASE_URL=db_url, CXLOOP_NOW="next tuesday")
    run = subprocess.run([sys.executable, "-m", "handlers.cli", "scores"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert run.returncode == 2 and "CXLOOP_NOW" in run.stderr and "ISO-8601" in run.stderr



@pytest.mark.sqlite_only
def test_the_sqlite3_path_counts_exactly_what_sqlalchemy_counts(engine, db_url):
    """`cxloop scores` reads a SQLite file at head through sqlite3: same query, same instants, same groups."""
    from bot.reporting.scores import compute_scores_sqlite
    from storage.revision import sqlite_at_head

    us = timedelta(microseconds=1)
    for at in (T0 - us, T0, T0 + us, T0 + timedelta(days=3, hours=23, minutes=59, seconds=59, microseconds=999999)):
        add(engine, "nps", [0, 8, 10], touchpoint="phone", at=at)
        add(engine, "csat", [5, 3], touchpoint="refund", at=at)
        add(engine, "ces", [4], touchpoint="web", at=at)
    with session_scope(engine) as s:
        store_response(s, load_workspace(), build_response({
            "source": "test", "external_id": "no-touchpoint", "survey": "nps", "score": 2,
            "responded_at": T0.isoformat()}))
    plus_one = timezone(timedelta(hours=1))
    windows = [(None, None), (T0, None), (None, T0), (T0 + us, T0 + timedelta(days=4)),
               (T0.astimezone(plus_one), (T0 + us).astimezone(plus_one))]
    conn = sqlite_at_head(db_url)
    assert conn is not None
    try:
        for since, until in windows:
            for by in (None, "team", "touchpoint", "survey"):
                assert compute_scores_sqlite(conn, since=since, until=until, by=by) == \
                    compute_scores(engine, since=since, until=until, by=by), (since, until, by)
    finally:
        conn.close()
