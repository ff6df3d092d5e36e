"""Where people see improvements: `/cx improve`, `/cx huddle`, the App Home, the weekly digest; and
Act's question when a target date passes unmet, answered with a new date."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from bot.improvement.enums import ImproveAction
from bot.reporting.digest import compute_digest
from bot.reporting.messages import digest_message
from bot.reporting.weeks import week_bounds
from handlers.jobs import run_due
from tests.harness import CxHarness, text_of
from tests.improvement_data import DAY, HUDDLE_AT, WEEK, add_action, answer, answers, epoch, move, start_improvement

SUPPORT = "C0SUPPORT"
HOUR = DAY / 24


@pytest.fixture(autouse=True)
def _clock(process_clock) -> None:
    process_clock.now = HUDDLE_AT


async def tick(cx: CxHarness, at: datetime, process_clock: Any) -> None:
    cx.clock.now = process_clock.now = at
    await run_due(cx.engine, cx.ws, cx.settings, at=at, deliverer=cx.deliverer)
    await cx.deliverer.drain(now=at)


def dms_to(cx: CxHarness, user: str) -> list[dict[str, Any]]:
    channel = cx.slack._conversations.get(user)
    return [c.body for c in cx.slack.calls_to("chat.postMessage") if channel and c.body["channel"] == channel]


def reply_text(reply: Any) -> str:
    return str(reply.json())


async def test_cx_improve_lists_shows_and_starts_improvements_for_the_team_only(engine):
    async with CxHarness(engine) as cx:
        cx.clock.now = HUDDLE_AT
        assert "No improvements under way" in reply_text(await cx.command("U0ALICE", "improve"))
        new = reply_text(await cx.command("U0ALICE", "improve new"))
        assert "Start an improvement for Customer Support" in new and ImproveAction.START.value in new
        assert "Only members and managers of the Customer Support team" in reply_text(
            await cx.command("U0PRIYA", "improve new support"))
        answers(engine, cx.ws, [1, 5, 5, 5], start=HUDDLE_AT - 2 * WEEK, survey="csat", comment=None)
        start_improvement(engine, cx.ws, now=HUDDLE_AT, metric="csat", target="90", owners=("U0ALICE", "U0BOB"))
        listed = reply_text(await cx.command("U0CARLOS", "improve"))
        assert "Improvements under way (1)" in listed and "#1" in listed and "Fewer callbacks missed · Plan" in listed
        assert "<@U0ALICE>" in listed and "<@U0BOB>" in listed
        assert "CSAT not measured yet vs 75% baseline (4 answers)" in listed
        assert "No improvements under way" in reply_text(await cx.command("U0PRIYA", "improve"))  # billing's view
        whole = reply_text(await cx.command("U0CARLOS", "improve 1"))
        assert "Fewer callbacks missed" in whole and "History" in whole and "75% (4 answers, 3 satisfied" in whole
        assert "only its members and managers can see it" in reply_text(await cx.command("U0PRIYA", "improve 1"))
        assert "There is no improvement #99" in reply_text(await cx.command("U0ALICE", "improve 99"))
        assert "Usage" in reply_text(await cx.command("U0ALICE", "improve 1 2"))


async def test_cx_huddle_posts_now_for_managers_without_using_up_the_scheduled_one(engine, process_clock):
    async with CxHarness(engine) as cx:
        for i in range(3):
            answer(engine, cx.ws, at=HUDDLE_AT - 2 * WEEK + i * HOUR, score=1)
        assert "needs the manager role" in reply_text(await cx.command("U0ALICE", "huddle"))
        cx.clock.now = HUDDLE_AT - DAY
        done = reply_text(await cx.command("U0MANAGER", "huddle"))
        assert "Posted the Customer Support huddle to #C0SUPPORT" in done
        await cx.deliver()
        assert len([m for m in cx.posted(SUPPORT) if "weekly huddle" in text_of(m)]) == 1
        await tick(cx, HUDDLE_AT - HOUR, process_clock)  # not its time yet
        await tick(cx, HUDDLE_AT, process_clock)
        await tick(cx, HUDDLE_AT + HOUR, process_clock)
        assert len([m for m in cx.posted(SUPPORT) if "weekly huddle" in text_of(m)]) == 2
        (billing,) = [m for m in cx.posted("C0BILLING") if "huddle" in text_of(m)]
        assert "Billing huddle: a quiet week" in text_of(billing)
        await tick(cx, HUDDLE_AT + DAY, process_clock)  # a missed day is not caught up later in the week
        assert len([m for m in cx.posted(SUPPORT) if "huddle" in text_of(m)]) == 2


async def test_app_home_shows_the_improvements_a_person_owns_and_their_next_action(engine):
    async with CxHarness(engine) as cx:
        cx.clock.now = HUDDLE_AT
        imp = start_improvement(engine, cx.ws, now=HUDDLE_AT, metric="nps", target="30")
        await cx.sender.home_opened("U0ALICE")
        await cx.rt.wait_idle()
        home = str(cx.slack.home_views["U0ALICE"]["blocks"])
        assert "Your improvements (1)" in home and "Next: add a plan action" in home
        add_action(engine, cx.ws, imp, owner="U0BOB", due=HUDDLE_AT + 3 * DAY, now=HUDDLE_AT,
                   title="Train the night shift")
        await cx.sender.home_opened("U0BOB")
        await cx.rt.wait_idle()
        bob = str(cx.slack.home_views["U0BOB"]["blocks"])
        assert "Your improvements (1)" in bob and "Next: your action “Train the night shift”, due" in bob
        await cx.sender.home_opened("U0CARLOS")
        await cx.rt.wait_idle()
        assert "Your improvements" not in str(cx.slack.home_views["U0CARLOS"]["blocks"])


def test_the_weekly_digest_has_an_improvements_section(engine, process_clock):
    from bot.config import load_workspace
    from bot.improvement.checkins import measurements
    from bot.people.roster import sync_workspace
    from storage.db import session_scope

    ws = load_workspace()
    with session_scope(engine) as s:
        sync_workspace(s, ws)
    answers(engine, ws, [1, 5] * 10, start=HUDDLE_AT - 5 * WEEK, survey="csat", comment=None, every=DAY)
    imp = start_improvement(engine, ws, now=HUDDLE_AT, metric="csat", target="80")
    add_action(engine, ws, imp, due=HUDDLE_AT + DAY, now=HUDDLE_AT)
    move(engine, ws, imp, "do", now=HUDDLE_AT + HOUR)
    answers(engine, ws, [5] * 19 + [1], start=HUDDLE_AT + 2 * HOUR, survey="csat", comment=None)
    assert measurements(engine, ws, HUDDLE_AT + HOUR + WEEK) == 1
    since, until = week_bounds(HUDDLE_AT.date() + WEEK - 2 * DAY, ws)  # Monday 7 Dec to Monday 14 Dec
    text = str(digest_message(compute_digest(engine, ws, "support", since, until), chart=False).model_dump())
    assert "🔧 Improvements (1 under way)" in text
    assert "#1 Fewer callbacks missed, check-in 1: 95% (20 answers), +45.0 on the baseline, 95% interval" in text
    before = str(digest_message(compute_digest(engine, ws, "support", *week_bounds(HUDDLE_AT.date() - 2 * DAY, ws)),
                                chart=False).model_dump())
    assert "#1 Fewer callbacks missed: started" in before and "moved from Plan to Do" in before


async def test_a_missed_target_date_asks_owners_and_managers_to_adjust_or_extend(engine, process_clock):
    async with CxHarness(engine) as cx:
        cx.clock.now = HUDDLE_AT
        target_day = (HUDDLE_AT + 8 * DAY).date()  # Thursday 10 December
        imp = start_improvement(engine, cx.ws, now=HUDDLE_AT, metric="nps", target="30", target_date=target_day)
        add_action(engine, cx.ws, imp, due=HUDDLE_AT + DAY, now=HUDDLE_AT)
        move(engine, cx.ws, imp, "do", now=HUDDLE_AT)
        answers(engine, cx.ws, [9, 3, 7], start=HUDDLE_AT + HOUR, comment=None)
        end = datetime(target_day.year, target_day.month, target_day.day + 1, tzinfo=HUDDLE_AT.tzinfo)
        await tick(cx, end - HOUR, process_clock)
        assert not [m for m in dms_to(cx, "U0ALICE") if "missed its target date" in text_of(m)]
        await tick(cx, end + 9 * HOUR, process_clock)  # Thursday has ended; told in Friday's working hours
        await tick(cx, end + 10 * HOUR, process_clock)
        (asked,) = [m for m in dms_to(cx, "U0ALICE") if "missed its target date" in text_of(m)]
        assert len([m for m in dms_to(cx, "U0MANAGER") if "missed its target date" in text_of(m)]) == 1
        assert "NPS is 0.0 (3 answers: 1 promoter, 1 passive, 1 detractor); Needs 17 more answers" in text_of(asked)
        await cx.click("U0ALICE", asked, ImproveAction.EXTEND.value, channel=asked["channel"])
        modal = cx.last_modal()
        refused = (await cx.submit("U0ALICE", modal, {"target_date": None, "target": "30"})).json()
        assert "needs a date" in str(refused["errors"])
        new_day = (end + 30 * DAY).date()
        await cx.submit("U0ALICE", modal, {"target_date": epoch(new_day), "target": "25", "note": "Slow season"})
        await cx.deliver()
        post = [m for m in cx.posted(SUPPORT) if "Improvement #1" in text_of(m)][0]
        assert f"NPS 25 by {new_day:%a} {new_day.day} {new_day:%b %Y}" in text_of(post)
        await tick(cx, end + 11 * HOUR, process_clock)
        assert len([m for m in dms_to(cx, "U0ALICE") if "missed its target date" in text_of(m)]) == 1


async def test_a_snoozed_plan_action_waits_for_its_snooze_then_is_overdue_once(engine, process_clock):
    async with CxHarness(engine) as cx:
        cx.clock.now = HUDDLE_AT
        imp = start_improvement(engine, cx.ws, now=HUDDLE_AT, metric="nps", target="30")
        due = HUDDLE_AT + 4 * HOUR  # Wednesday 14:00 in London
        add_action(engine, cx.ws, imp, due=due, now=HUDDLE_AT, title="Brief the phone team")
        await tick(cx, due - 2 * HOUR, process_clock)
        (soon,) = [m for m in dms_to(cx, "U0ALICE") if "Plan action due soon" in text_of(m)]
        await cx.click("U0CARLOS", soon, ImproveAction.SNOOZE.value, channel=soon["channel"])
        assert "Only the action's owner" in cx.ephemerals_for("U0CARLOS")[-1]
        await cx.click("U0ALICE", soon, ImproveAction.SNOOZE.value, channel=soon["channel"])
        modal = cx.last_modal()
        assert (await cx.submit("U0ALICE", modal, {"for": "1d", "reason": ""})).json()["response_action"] == "errors"
        await cx.submit("U0ALICE", modal, {"for": "1d", "reason": "Waiting for the new script"})
        await tick(cx, due + HOUR, process_clock)
        assert not [m for m in dms_to(cx, "U0ALICE") if "Plan action overdue" in text_of(m)]
        await tick(cx, due - 2 * HOUR + DAY + HOUR, process_clock)  # the snooze is over
        await tick(cx, due - 2 * HOUR + DAY + 2 * HOUR, process_clock)
        assert len([m for m in dms_to(cx, "U0ALICE") if "Plan action overdue" in text_of(m)]) == 1
