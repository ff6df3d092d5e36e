"""Customer Service Week: dates, the managers' heads-up, each day's prompt once, the pledge and stories."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from bot.config import Workspace, load_workspace, parse_workspace
from bot.people.roster import sync_workspace
from bot.recognition import csweek
from handlers.jobs import run_due
from storage.db import session_scope
from storage.models import JobClaim, Member, OutboxMessage, Pledge, Story
from tests.conftest import cli_env
from tests.harness import CxHarness, text_of
from tests.test_recognition import work_case

LONDON = ZoneInfo("Europe/London")
CHANNELS = ("C0SUPPORT", "C0BILLING", "C0DELIVERY")


def london(y: int, mo: int, d: int, h: int = 9, mi: int = 30) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=LONDON).astimezone(timezone.utc)


async def tick(cx: CxHarness, at: datetime) -> dict[str, Any]:
    cx.clock.now = at
    summary = await run_due(cx.engine, cx.ws, cx.settings, at=at, deliverer=cx.deliverer)
    await cx.deliverer.drain(now=at)
    return summary


def week_messages(cx: CxHarness, channel: str) -> list[dict[str, Any]]:
    """Customer Service Week's messages in a channel (not, say, a weekly digest posted the same Monday)."""
    return [m for m in cx.posted(channel)
            if ":csweek:" in ((m.get("metadata") or {}).get("event_payload") or {}).get("key", "")]


def posts(cx: CxHarness, channel: str) -> list[dict[str, Any]]:
    """Top-level Customer Service Week messages in a channel, oldest first."""
    return [m for m in week_messages(cx, channel) if m.get("thread_ts", m["ts"]) == m["ts"]]


def replies(cx: CxHarness, channel: str, parent: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in cx.posted(channel) if m.get("thread_ts") == parent["ts"] and m["ts"] != parent["ts"]]


def dms(cx: CxHarness, user: str) -> list[str]:
    channel = cx.slack._conversations.get(user)
    return [text_of(m) for m in cx.posted(channel)] if channel else []


def claims(engine) -> list[str]:
    with Session(engine) as s:
        return sorted(c.key for c in s.exec(select(JobClaim)) if c.key.startswith("csweek:"))


# --- dates -------------------------------------------------------------------------------------


@pytest.mark.parametrize("year, monday", [
    (2026, date(2026, 10, 5)),   # Oct 1 is a Thursday
    (2028, date(2028, 10, 2)),   # Oct 1 is a Sunday
    (2022, date(2022, 10, 3)),   # Oct 1 is a Saturday
    (2024, date(2024, 10, 7)),   # Oct 1 is a Tuesday: Mon 30 Sep – Fri 4 Oct is not a full October week
    (2029, date(2029, 10, 1)),   # Oct 1 is a Monday
])
def test_the_week_is_the_first_full_monday_to_friday_of_october(year, monday):
    assert csweek.first_full_week(year) == monday
    assert monday.weekday() == 0 and monday.month == 10 and (monday + timedelta(days=4)).month == 10


# --- a whole week, 2026 -----------------------------------------------------------------------


async def test_heads_up_a_week_before_to_every_manager_once(engine):
    async with CxHarness(engine) as cx:
        await tick(cx, london(2026, 9, 28, 9, 29))
        assert not any(dms(cx, u) for u in ("U0MANAGER", "U0MEERA", "U0GRACE"))
        await tick(cx, london(2026, 9, 28, 9, 30))
        await tick(cx, london(2026, 9, 28, 14, 0))
        for manager, team in (("U0MANAGER", "Customer Support"), ("U0MEERA", "Billing"), ("U0GRACE", "Delivery")):
            (dm,) = dms(cx, manager)
            assert "Customer Service Week starts Mon 5 Oct" in dm and "Mon 5 – Fri 9 October 2026" in dm
            assert team in dm
            for line in ("Mon 5 Oct — Kick-off and the customer-service pledge", "Tue 6 Oct — Make it personal",
                         "Wed 7 Oct — Have fun and relieve stress", "Thu 8 Oct — Show the love",
                         "Fri 9 Oct — Wrap-up"):
                assert line in dm, line
        assert not dms(cx, "U0ALICE")
        assert not any(week_messages(cx, c) for c in CHANNELS)
        with Session(engine) as s:
            ids = {m.slack_user_id: m.id for m in s.exec(select(Member))}
        assert claims(engine) == sorted(f"csweek:2026:heads-up:{ids[u]}" for u in ("U0MANAGER", "U0MEERA", "U0GRACE"))


async def test_a_missed_heads_up_catches_up_before_the_week(engine):
    async with CxHarness(engine) as cx:
        await tick(cx, london(2026, 10, 1, 11, 0))  # the Thursday before
        await tick(cx, london(2026, 10, 4, 23, 59))
        assert len(dms(cx, "U0MANAGER")) == 1


async def test_monday_kickoff_and_the_pledge(engine):
    async with CxHarness(engine) as cx:
        await tick(cx, london(2026, 10, 5, 9, 29))
        assert not any(week_messages(cx, c) for c in CHANNELS)
        await tick(cx, london(2026, 10, 5, 9, 30))
        await tick(cx, london(2026, 10, 5, 9, 31))  # run twice: nothing doubled
        for channel in CHANNELS:
            (post,) = posts(cx, channel)
            shown = text_of(post)
            assert "Customer Service Week 2026 starts today" in shown and "Mon 5 – Fri 9 October 2026" in shown
            assert "The customer-service pledge" in shown and "I pledge to put the customer first" in shown
            assert "cx_csweek_pledge" in shown and "be the first" in shown
        # the week has begun: too late for a heads-up
        assert not dms(cx, "U0MANAGER")

        kickoff = posts(cx, "C0SUPPORT")[0]
        cx.clock.now = london(2026, 10, 5, 10, 0)
        await cx.click("U0ALICE", kickoff, "cx_csweek_pledge")
        await cx.click("U0BOB", kickoff, "cx_csweek_pledge")
        await cx.click("U0ALICE", kickoff, "cx_csweek_pledge")
        assert "your pledge is recorded" in cx.ephemerals_for("U0ALICE")[0]
        assert "already took the 2026 pledge" in cx.ephemerals_for("U0ALICE")[1]
        assert "one of 2 across the company" in cx.ephemerals_for("U0BOB")[0]
        await cx.click("U0PRIYA", posts(cx, "C0BILLING")[0], "cx_csweek_pledge", channel="C0BILLING")
        await cx.deliver()
        assert "2 people in Customer Support have taken the pledge" in text_of(posts(cx, "C0SUPPORT")[0])
        assert "1 person in Billing has taken the pledge" in text_of(posts(cx, "C0BILLING")[0])
        with Session(engine) as s:
            assert sorted((p.year, p.team) for p in s.exec(select(Pledge))) == [
                (2026, "billing"), (2026, "support"), (2026, "support")]
        assert claims(engine) == ["csweek:2026:monday:billing", "csweek:2026:monday:delivery",
                                  "csweek:2026:monday:support"]


async def test_tuesday_thank_you_notes_and_the_managers_list(engine):
    async with CxHarness(engine) as cx:
        await tick(cx, london(2026, 10, 6, 9, 0))
        assert not any(week_messages(cx, c) for c in CHANNELS)
        await tick(cx, london(2026, 10, 6, 9, 30))
        (post,) = posts(cx, "C0SUPPORT")
        assert "make it personal" in text_of(post) and "/cx kudos @name what they did" in text_of(post)
        (dm,) = dms(cx, "U0MANAGER")
        assert "Thank your Customer Support team today" in dm
        assert all(f"<@{u}>" in dm for u in ("U0ALICE", "U0BOB", "U0CARLOS")) and "<@U0PRIYA>" not in dm
        (grace,) = dms(cx, "U0GRACE")
        assert all(f"<@{u}>" in grace for u in ("U0SAM", "U0SAMIRA", "U0JONAS"))
        await tick(cx, london(2026, 10, 6, 16, 0))
        assert len(posts(cx, "C0SUPPORT")) == 1 and len(dms(cx, "U0MANAGER")) == 1


async def test_wednesday_missed_run_catches_up_the_same_day_with_a_game_thread(engine):
    async with CxHarness(engine) as cx:
        await tick(cx, london(2026, 10, 7, 14, 5))  # the 09:30 run never happened
        await tick(cx, london(2026, 10, 7, 15, 0))
        for channel in CHANNELS:
            (post,) = posts(cx, channel)
            assert "have fun and relieve stress" in text_of(post) and "Two Truths and a Lie" in text_of(post)
            (rules,) = replies(cx, channel, post)
            assert "How to play Two Truths and a Lie" in text_of(rules) and "two true, one a lie" in text_of(rules)


async def test_a_days_prompt_is_never_posted_on_another_day(engine):
    async with CxHarness(engine) as cx:
        # Monday and Tuesday were missed entirely; Wednesday's run posts only Wednesday's prompt.
        await tick(cx, london(2026, 10, 7, 9, 30))
        shown = [text_of(m) for m in posts(cx, "C0SUPPORT")]
        assert len(shown) == 1 and "Two Truths and a Lie" in shown[0]
        # the weekend after, and the Monday after: nothing
        await tick(cx, london(2026, 10, 10, 9, 30))
        await tick(cx, london(2026, 10, 12, 9, 30))
        assert len(posts(cx, "C0SUPPORT")) == 1
        assert claims(engine) == ["csweek:2026:wednesday:billing", "csweek:2026:wednesday:delivery",
                                  "csweek:2026:wednesday:support"]


async def test_thursday_managers_get_specifics_and_people_share_stories(engine):
    async with CxHarness(engine) as cx:
        work_case(engine, cx.ws, "r-1", owner="U0ALICE", opened=london(2026, 10, 5, 11), closed=london(2026, 10, 6, 15))
        await cx.command("U0BOB", "kudos <@U0CARLOS|carlos> for the spreadsheet that saved my Tuesday")
        with session_scope(engine) as s:  # kudos given during the week (the command used the clock)
            from storage.models import Shoutout
            for row in s.exec(select(Shoutout)):
                row.created_at = london(2026, 10, 6, 12)
        await tick(cx, london(2026, 10, 8, 9, 30))
        (post,) = posts(cx, "C0SUPPORT")
        assert "show the love" in text_of(post) and "cx_csweek_story" in text_of(post)
        (dm,) = dms(cx, "U0MANAGER")
        assert "Show the love: Customer Support" in dm
        assert "#1" in dm and "<@U0ALICE> resolved it and closed the loop within SLA" in dm
        assert "<@U0BOB> → <@U0CARLOS>" in dm and "for the spreadsheet that saved my Tuesday" in dm
        assert "No cases resolved" in dms(cx, "U0MEERA")[0]

        cx.clock.now = london(2026, 10, 8, 11)
        await cx.click("U0ALICE", post, "cx_csweek_story")
        modal = cx.last_modal()
        assert modal["callback_id"] == "cx_csweek_story_form"
        reply = await cx.submit("U0ALICE", modal, {"story": "   "})
        assert "story" in reply.json()["errors"]
        reply = await cx.submit("U0ALICE", modal, {"story": "A customer's <!channel> dog ate the <@U0ADMIN> router."})
        assert reply.status == 200 and not reply.text
        await cx.deliver()
        (story,) = replies(cx, "C0SUPPORT", post)
        shown = text_of(story)
        assert "<@U0ALICE> shared a customer story" in shown and "dog ate the" in shown
        assert "<!channel>" not in shown and "<@U0ADMIN>" not in shown
        assert "Your story is in the thread" in cx.ephemerals_for("U0ALICE")[-1]
        with Session(engine) as s:
            assert [(st.team, st.text[:14]) for st in s.exec(select(Story))] == [("support", "A customer's <")]


async def test_friday_wrap_up_counts_the_week_and_recalls_the_pledge(engine):
    async with CxHarness(engine) as cx:
        await tick(cx, london(2026, 10, 5, 9, 30))
        kickoff = posts(cx, "C0SUPPORT")[0]
        cx.clock.now = london(2026, 10, 5, 10)
        for user in ("U0ALICE", "U0BOB"):
            await cx.click(user, kickoff, "cx_csweek_pledge")
        await cx.click("U0PRIYA", posts(cx, "C0BILLING")[0], "cx_csweek_pledge", channel="C0BILLING")
        cx.clock.now = london(2026, 10, 6, 10)
        await cx.command("U0ALICE", "kudos <@U0BOB|bob> for the cover")
        await cx.command("U0TOM", "kudos <@U0PRIYA|priya> for the refund fix")
        await tick(cx, london(2026, 10, 8, 9, 30))
        cx.clock.now = london(2026, 10, 8, 12)
        await cx.click("U0CARLOS", posts(cx, "C0SUPPORT")[1], "cx_csweek_story")
        await cx.submit("U0CARLOS", cx.last_modal(), {"story": "Drove a replacement router round myself."})
        await tick(cx, london(2026, 10, 9, 9, 30))
        wrap = text_of(posts(cx, "C0SUPPORT")[-1])
        assert "That's a wrap: Customer Service Week 2026" in wrap
        assert "2 pledges taken in Customer Support (3 across the company)" in wrap
        assert "1 thank-you note given here (2 across the company)" in wrap
        assert "1 customer story shared here (1 across the company)" in wrap
        assert "Remember the pledge" in wrap and "I pledge to put the customer first" in wrap
        assert "1 pledge taken in Billing" in text_of(posts(cx, "C0BILLING")[-1])


async def test_pledge_is_once_per_person_per_year_and_only_during_the_week(engine):
    async with CxHarness(engine) as cx:
        await tick(cx, london(2026, 10, 5, 9, 30))
        kickoff_2026 = posts(cx, "C0SUPPORT")[0]
        cx.clock.now = london(2026, 10, 9, 16)
        await cx.click("U0ALICE", kickoff_2026, "cx_csweek_pledge")
        cx.clock.now = london(2026, 10, 10, 9)  # Saturday: the week is over
        await cx.click("U0BOB", kickoff_2026, "cx_csweek_pledge")
        assert "Customer Service Week 2026 is over" in cx.ephemerals_for("U0BOB")[-1]
        await tick(cx, london(2027, 10, 4, 9, 30))
        kickoff_2027 = posts(cx, "C0SUPPORT")[-1]
        assert "Customer Service Week 2027" in text_of(kickoff_2027)
        cx.clock.now = london(2027, 10, 4, 10)
        await cx.click("U0ALICE", kickoff_2027, "cx_csweek_pledge")
        await cx.click("U0ALICE", kickoff_2027, "cx_csweek_pledge")
        assert "already took the 2027 pledge" in cx.ephemerals_for("U0ALICE")[-1]
        with Session(engine) as s:
            assert sorted(p.year for p in s.exec(select(Pledge))) == [2026, 2027]


# --- other years, overrides --------------------------------------------------------------------


async def test_2028_october_starts_on_a_sunday(engine):
    async with CxHarness(engine) as cx:
        await tick(cx, london(2028, 9, 25, 9, 30))
        assert "Mon 2 – Fri 6 October 2028" in dms(cx, "U0MANAGER")[0]
        assert "Mon 2 Oct — Kick-off" in dms(cx, "U0MANAGER")[0]
        await tick(cx, london(2028, 10, 1, 9, 30))  # Sunday 1 October: not part of the week
        assert not posts(cx, "C0SUPPORT")
        await tick(cx, london(2028, 10, 2, 9, 30))
        assert "Customer Service Week 2028 starts today" in text_of(posts(cx, "C0SUPPORT")[0])
        await tick(cx, london(2028, 10, 6, 9, 30))
        assert "That's a wrap: Customer Service Week 2028" in text_of(posts(cx, "C0SUPPORT")[-1])
        assert len(posts(cx, "C0SUPPORT")) == 2


async def test_2022_october_starts_on_a_saturday(engine):
    async with CxHarness(engine) as cx:
        await tick(cx, london(2022, 10, 1, 9, 30))
        assert not posts(cx, "C0SUPPORT")
        await tick(cx, london(2022, 10, 3, 9, 30))
        assert "Customer Service Week 2022 starts today" in text_of(posts(cx, "C0SUPPORT")[0])


async def test_2024_october_starts_on_a_tuesday_so_the_week_is_the_7th(engine):
    async with CxHarness(engine) as cx:
        for day in (date(2024, 9, 30), date(2024, 10, 1), date(2024, 10, 4)):
            await tick(cx, london(day.year, day.month, day.day, 9, 30))
        assert not posts(cx, "C0SUPPORT")
        assert "Mon 7 – Fri 11 October 2024" in dms(cx, "U0MANAGER")[0]
        await tick(cx, london(2024, 10, 7, 9, 30))
        assert "Customer Service Week 2024 starts today" in text_of(posts(cx, "C0SUPPORT")[0])


def cs_week(monkeypatch, **settings: Any) -> Workspace:
    """A workspace with `cs_week` settings (the YAML key once bot/config.py has it, else the module defaults)."""
    data = load_workspace().model_dump(mode="json")
    if "cs_week" in Workspace.model_fields:
        data["cs_week"] = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in settings.items()}
    else:
        names = {"enabled": "ENABLED", "start": "START", "time": "DEFAULT_TIME"}
        for k, v in settings.items():
            monkeypatch.setattr(csweek, names[k], v)
    return parse_workspace(data)


async def test_start_and_time_can_be_overridden(engine, monkeypatch):
    ws = cs_week(monkeypatch, start=date(2026, 10, 12), time=time(8, 0))
    async with CxHarness(engine, workspace=ws) as cx:
        await tick(cx, london(2026, 10, 5, 9, 30))
        assert not posts(cx, "C0SUPPORT")
        await tick(cx, london(2026, 10, 12, 7, 59))
        assert not posts(cx, "C0SUPPORT")
        await tick(cx, london(2026, 10, 12, 8, 0))
        assert "Mon 12 – Fri 16 October 2026" in text_of(posts(cx, "C0SUPPORT")[0])
        # the override is for 2026 only: 2027 has its usual week
        await tick(cx, london(2027, 10, 4, 8, 0))
        assert "Customer Service Week 2027" in text_of(posts(cx, "C0SUPPORT")[-1])


async def test_disabled_posts_nothing(engine, monkeypatch):
    async with CxHarness(engine, workspace=cs_week(monkeypatch, enabled=False)) as cx:
        for at in (london(2026, 9, 28, 9, 30), london(2026, 10, 5, 9, 30), london(2026, 10, 9, 9, 30)):
            await tick(cx, at)
        assert not posts(cx, "C0SUPPORT") and not dms(cx, "U0MANAGER") and not claims(engine)


def test_two_processes_at_once_post_each_prompt_once(engine, db_url):
    with session_scope(engine) as s:
        sync_workspace(s, load_workspace())
    env = cli_env(DATABASE_URL=db_url)
    for k in ("SLACK_BOT_TOKEN", "CXLOOP_CONFIG"):
        env.pop(k, None)
    at = london(2026, 10, 6, 9, 30).isoformat()
    procs = [subprocess.Popen([sys.executable, "-m", "handlers.cli", "run-due", "--at", at], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    with Session(engine) as s:
        keys = [o.dedupe_key for o in s.exec(select(OutboxMessage)) if ":csweek:" in o.dedupe_key]
    # three team posts, and one DM per manager with their team's list
    assert len(keys) == len(set(keys)) == 3 + 3
    assert claims(engine) == ["csweek:2026:tuesday:billing", "csweek:2026:tuesday:delivery",
                              "csweek:2026:tuesday:support"]
