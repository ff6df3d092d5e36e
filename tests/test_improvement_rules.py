"""The outer loop's figures and rules, on the real database: hand-computed baselines, changes and
intervals, huddle patterns from a known history, stages and who may move them, SMART targets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from bot.config import load_workspace
from bot.errors import BadInput, InvalidState, NotAllowed
from bot.improvement import service as imps
from bot.improvement.enums import Dimension, Metric
from bot.improvement.huddle import compute_huddle, set_aside
from bot.improvement.huddle_messages import huddle_message, trend_words
from bot.improvement.measure import Comparison, Measure, back_in_baseline
from bot.improvement.messages import change_words
from bot.improvement.stats import newcombe, nps_change_interval, nps_interval, wilson
from bot.people.roster import member_by_slack, sync_workspace
from storage.db import session_scope
from storage.models import Improvement, ImprovementEvent
from tests.improvement_data import (
    DAY,
    HUDDLE_AT,
    PARCEL,
    WEEK,
    actor,
    add_action,
    answer,
    answers,
    epoch,
    move,
    start_improvement,
)

NOW = HUDDLE_AT


@pytest.fixture(autouse=True)
def _clock(process_clock) -> None:
    process_clock.now = NOW


@pytest.fixture
def ws(engine):
    ws = load_workspace()
    with session_scope(engine) as s:
        sync_workspace(s, ws)
    return ws


# --- intervals, by hand ----------------------------------------------------------------------


def test_wilson_gives_the_textbook_interval_for_six_of_ten():
    iv = wilson(6, 10)
    assert (round(iv.low, 4), round(iv.high, 4)) == (0.3127, 0.8318)
    assert wilson(0, 10).low == 0.0 and round(wilson(0, 10).high, 4) == 0.2775  # no collapse at 0%
    assert wilson(0, 0) is None


def test_newcombe_matches_his_paper_for_56_of_70_against_48_of_80():
    iv = newcombe(56, 70, 48, 80)
    assert (round(iv.low, 4), round(iv.high, 4)) == (0.0524, 0.3339)


def test_the_nps_bootstrap_is_repeatable_and_close_to_the_normal_approximation():
    # 100 answers: 50 promoters, 20 detractors -> NPS 30; per-answer variance 0.7 - 0.3^2 = 0.61,
    # standard error 7.81 points, so about 30 ± 15.3.
    iv = nps_interval(100, 50, 20)
    assert iv == nps_interval(100, 50, 20)
    assert abs(iv.low - 14.7) < 2 and abs(iv.high - 45.3) < 2
    change = nps_change_interval((100, 50, 20), (100, 50, 20))
    assert change.low < 0 < change.high and abs(change.low + change.high) < 2  # centred on no change


def test_a_csat_baseline_is_counted_and_intervalled_by_hand(engine, ws):
    start = NOW - 6 * WEEK
    answers(engine, ws, [5, 5, 4, 4, 5, 4, 3, 2, 1, 2], start=start, survey="csat", comment=None)  # 6 of 10
    answer(engine, ws, at=start, survey="csat", score=1, touchpoint="billing", comment=None)  # another team
    answer(engine, ws, at=NOW - 9 * WEEK, survey="csat", score=1, comment=None)  # before the 8 weeks
    imp_id = start_improvement(engine, ws, now=NOW, metric="csat", target="80", touchpoint=None)
    with Session(engine) as s:
        imp = s.get(Improvement, imp_id)
        assert (imp.baseline_n, imp.baseline_hits, imp.baseline_value) == (10, 6, 60.0)
        assert (imp.baseline_low, imp.baseline_high) == (31.3, 83.2)
        assert imp.baseline_since == NOW - 8 * WEEK and imp.baseline_until == NOW


def test_a_change_says_how_many_answers_it_still_needs_then_whether_it_is_more_than_noise():
    before = Measure(Metric.CSAT, n=80, hits=48)  # 60%: the paper's example below
    few = Comparison(before=before, after=Measure(Metric.CSAT, n=7, hits=7), min_responses=20)
    assert change_words(few) == "Needs 13 more answers before the change can be judged (7 of 20 so far)."
    assert few.verdict is None
    none = Comparison(before=before, after=Measure(Metric.CSAT), min_responses=20)
    assert "No answers yet since then: it needs 20 more answers" in change_words(none)
    better = Comparison(before=before, after=Measure(Metric.CSAT, n=70, hits=56), min_responses=20)  # 80%
    assert better.change == 20.0 and better.verdict == "better"
    assert change_words(better) == "+20.0 pts (95% interval +5.2 to +33.4): more than noise: better."  # Newcombe, above
    same = Comparison(before=before, after=Measure(Metric.CSAT, n=20, hits=13), min_responses=20)  # 65%
    assert same.verdict == "noise" and "could still be noise" in change_words(same)


def test_slipping_back_means_inside_the_baselines_interval_or_worse():
    assert back_in_baseline(Metric.CSAT, 83.0, 31.3, 83.2)
    assert not back_in_baseline(Metric.CSAT, 84.0, 31.3, 83.2)
    assert back_in_baseline(Metric.THEME_SHARE, 20.0, 20.0, 40.0)  # lower is better for a share
    assert not back_in_baseline(Metric.THEME_SHARE, 19.0, 20.0, 40.0)


# --- huddle patterns from a known history ----------------------------------------------------


def test_the_huddle_finds_recurring_patterns_against_the_four_weeks_before(engine, ws):
    recent, earlier = NOW - 3 * WEEK, NOW - 7 * WEEK  # in 2-29 Nov and in 5 Oct-1 Nov
    for i in range(6):  # waiting on the phone: 6 detractors now, 2 before; processes documented on 3
        answer(engine, ws, at=recent + i * DAY, score=2, root_cause="processes" if i < 3 else None)
    for i in range(2):
        answer(engine, ws, at=earlier + i * DAY, score=1)
    answer(engine, ws, at=recent, score=9, comment="I waited on hold for an hour")  # a promoter: not a pattern
    answer(engine, ws, at=recent, score=3, comment=PARCEL, touchpoint="email")  # once only: not recurring
    answer(engine, ws, at=NOW - DAY, score=0)  # this week: after the window
    with Session(engine) as s:
        data = compute_huddle(s, ws, "support", NOW)
    got = {(p.dimension, p.value): (p.responses, p.cases, p.before) for p in data.patterns}
    assert got == {(Dimension.THEME, "wait time"): (6, 6, 2), (Dimension.TOUCHPOINT, "phone"): (6, 6, 2),
                   (Dimension.ROOT_CAUSE, "processes"): (3, 3, 0)}
    assert data.patterns[0].quotes == ("I waited on hold for an hour",)  # the same words once
    assert trend_words(6, 2) == "▲ up 4 on the 4 weeks before (2 → 6)"
    assert trend_words(3, 0) == "3 responses: too few to call a trend"
    text = str(huddle_message(data, post="p").model_dump())
    assert "too few to call a trend" in text and "no improvement covers it yet" in text
    assert "2 Nov to 29 Nov 2026" in text


def test_a_quiet_week_says_so_in_one_line(engine, ws):
    answer(engine, ws, at=NOW - 2 * WEEK, score=1)
    with Session(engine) as s:
        msg = huddle_message(compute_huddle(s, ws, "support", NOW), post="p")
    assert len(msg.blocks) == 1 and "a quiet week" in msg.text and "29 Nov 2026" in msg.text


def test_not_now_hides_a_pattern_until_it_grows_and_an_improvement_covers_one(engine, ws):
    for i in range(3):
        answer(engine, ws, at=NOW - 3 * WEEK + i * DAY, score=2, comment=PARCEL, touchpoint="email")
    with session_scope(engine) as s:
        with pytest.raises(NotAllowed):
            set_aside(s, ws, actor(s, "U0ALICE"), team="support", dimension="theme", value="delivery", responses=3,
                      now=NOW)
        set_aside(s, ws, actor(s, "U0MANAGER"), team="support", dimension="theme", value="delivery", responses=3,
                  now=NOW)
        for dim, value in [("root_cause", "nonsense"), ("colour", "red"), ("theme", "x" * 65)]:  # forged buttons
            with pytest.raises(BadInput, match="names no huddle pattern"):
                set_aside(s, ws, actor(s, "U0MANAGER"), team="support", dimension=dim, value=value, responses=1,
                          now=NOW)
    with Session(engine) as s:
        data = compute_huddle(s, ws, "support", NOW)
    assert [p.value for p in data.patterns] == ["email"] and data.set_aside == 1
    answer(engine, ws, at=NOW - 2 * WEEK, score=2, comment=PARCEL, touchpoint="email")
    imp_id = start_improvement(engine, ws, now=NOW, metric="nps", target="20", touchpoint="email")
    with Session(engine) as s:
        data = compute_huddle(s, ws, "support", NOW)
    by = {p.value: p for p in data.patterns}
    assert by["delivery"].responses == 4 and by["delivery"].covered_by is None  # grew past 3: back
    assert by["email"].covered_by == (imp_id, "Fewer callbacks missed", "Plan")


# --- stages, permissions and targets ---------------------------------------------------------


def test_a_target_needs_a_number_and_a_date(engine, ws):
    with session_scope(engine) as s:
        alice = actor(s, "U0ALICE")
        common = dict(team="support", title="T", problem="P", owners_=[], metric="csat", now=NOW)
        for target, day, field, words in [
            ("soon", epoch((NOW + 30 * DAY).date()), "target", "needs a number"),
            ("80 or 90", epoch((NOW + 30 * DAY).date()), "target", "one number"),
            ("80", None, "target_date", "needs a date"),
            ("80", epoch((NOW - DAY).date()), "target_date", "must be after today"),
            ("180", epoch((NOW + 30 * DAY).date()), "target", "from 0 to 100"),
        ]:
            with pytest.raises(BadInput) as err:
                imps.start(s, ws, alice, target=target, target_date=day, **common)
            assert err.value.field == field and words in str(err.value)
    with Session(engine) as s:
        assert s.exec(select(Improvement)).first() is None  # nothing half-stored


def test_a_target_no_better_than_the_baseline_is_refused(engine, ws):
    answers(engine, ws, [5, 5, 5, 4, 1], start=NOW - 2 * WEEK, survey="csat", comment=None)  # 80%
    with pytest.raises(BadInput, match="no better than the baseline"):
        start_improvement(engine, ws, now=NOW, metric="csat", target="75")


def test_only_the_team_can_start_one_and_owners_must_belong_to_it(engine, ws):
    with pytest.raises(NotAllowed, match="Only members and managers of the Customer Support team"):
        start_improvement(engine, ws, by="U0PRIYA", now=NOW)
    with pytest.raises(NotAllowed, match="not in the support team"):
        start_improvement(engine, ws, now=NOW, owners=("U0PRIYA",))


def test_stages_move_only_where_the_rules_allow_and_each_move_is_recorded(engine, ws):
    imp_id = start_improvement(engine, ws, now=NOW, owners=("U0ALICE",))
    with pytest.raises(InvalidState, match="Add at least one plan action"):
        move(engine, ws, imp_id, "do", now=NOW)
    with pytest.raises(NotAllowed, match="Only an owner of improvement"):
        move(engine, ws, imp_id, "cancelled", by="U0BOB", now=NOW, note="no")
    add_action(engine, ws, imp_id, due=NOW + 3 * DAY, now=NOW)
    with pytest.raises(InvalidState, match="from there it can move to Do or Cancelled"):
        move(engine, ws, imp_id, "control", now=NOW)
    move(engine, ws, imp_id, "do", now=NOW + DAY, note="Rolled out")
    with pytest.raises(InvalidState, match="once a check-in has met the target"):
        move(engine, ws, imp_id, "control", by="U0MANAGER", now=NOW + DAY)
    with pytest.raises(BadInput, match="A reason is required"):
        move(engine, ws, imp_id, "cancelled", by="U0MANAGER", now=NOW + DAY)
    move(engine, ws, imp_id, "cancelled", by="U0MANAGER", now=NOW + 2 * DAY, note="Superseded")
    with pytest.raises(InvalidState, match="can move to nowhere"):
        move(engine, ws, imp_id, "plan", now=NOW + 2 * DAY)
    with Session(engine) as s:
        imp = s.get(Improvement, imp_id)
        assert imp.stage == "cancelled" and imp.cancel_reason == "Superseded"
        assert imp.change_started_at == NOW + DAY
        stages = [(e.kind, (e.detail or {}).get("to"), e.actor_id) for e in s.exec(
            select(ImprovementEvent).where(ImprovementEvent.improvement_id == imp_id).order_by(ImprovementEvent.id))]
        alice, manager = member_by_slack(s, "U0ALICE").id, member_by_slack(s, "U0MANAGER").id
    assert stages == [("started", None, alice), ("action_added", None, alice), ("stage", "do", alice),
                      ("stage", "cancelled", manager)]


def test_plan_actions_are_ticked_by_their_owner_an_owner_or_a_manager_only(engine, ws):
    imp_id = start_improvement(engine, ws, now=NOW)
    act = add_action(engine, ws, imp_id, owner="U0BOB", due=NOW + 2 * DAY, now=NOW)
    with session_scope(engine) as s, pytest.raises(NotAllowed, match="Only the action's owner"):
        imps.tick_action(s, actor(s, "U0CARLOS"), act, now=NOW)
    with session_scope(engine) as s:
        imps.tick_action(s, actor(s, "U0BOB"), act, now=NOW)
    with session_scope(engine) as s, pytest.raises(InvalidState, match="already done"):
        imps.tick_action(s, actor(s, "U0ALICE"), act, now=NOW)
    with pytest.raises(BadInput, match="due date must be in the future"):
        add_action(engine, ws, imp_id, due=NOW - DAY, now=NOW)
    with pytest.raises(NotAllowed, match="not in the support team"):
        add_action(engine, ws, imp_id, owner="U0TOM", due=NOW + DAY, now=NOW)
    assert timedelta(0) < WEEK


def test_the_yaml_keys_are_checked_and_named():
    from bot.config import parse_workspace
    from bot.errors import ConfigError

    data = load_workspace().model_dump(mode="json")
    for key, value, words in [("improvements", {"revisits": [60, 30]}, "improvements.revisits"),
                              ("improvements", {"min_responses": 0}, "improvements.min_responses"),
                              ("huddle", {"day": 7}, "huddle.day")]:
        with pytest.raises(ConfigError, match=words.replace(".", r"\.")):
            parse_workspace({**data, key: value})
    assert parse_workspace({**data, "huddle": {"enabled": False}}).huddle.enabled is False
