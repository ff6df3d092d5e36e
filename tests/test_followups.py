"""Follow-ups with passives and promoters: the daily post (batched, paged), Take, the three steps,
their own SLA and nudges (never escalated), and where people see them (`/cx mine`, App Home)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlmodel import Session, select

from bot.cases.messages import mask_email
from bot.followup.messages import PER_PAGE
from handlers.jobs import run_due
from storage.models import FollowUpStep
from tests.harness import CxHarness, text_of
from tests.loops_factories import answer, follow_ups, workspace

WED = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)   # answers come in on Wednesday morning (London)
THU_9 = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)  # Thursday's post: the start of business hours
SUPPORT = "C0SUPPORT"
MASKED = mask_email("c0@example.com")


def posts(cx: CxHarness, channel: str = SUPPORT) -> list[dict]:
    return [m for m in cx.posted(channel) if "follow-up" in text_of(m).lower()]


def dm_of(cx: CxHarness, user: str) -> list[dict]:
    channel = cx.slack._conversations.get(user)
    return cx.posted(channel) if channel else []


def only_block_of(message: dict, n: int) -> dict:
    """The message with only the n-th Take button left (the stand-in sender clicks the first it finds)."""
    takes = [b for b in message["blocks"] if b.get("type") == "actions"]
    keep = takes[n]
    return {**message, "blocks": [b for b in message["blocks"] if b.get("type") != "actions" or b is keep]}


async def run_at(cx: CxHarness, at: datetime) -> dict:
    cx.clock.now = at
    return await run_due(cx.engine, cx.ws, cx.settings, at=at, deliverer=cx.deliverer)


async def test_passives_and_promoters_are_listed_once_a_working_day_paged_in_a_thread(engine):
    ws = workspace()
    async with CxHarness(engine, workspace=ws) as cx:
        cx.clock.now = WED
        for i in range(PER_PAGE + 2):  # twelve: two pages
            answer(engine, ws, score=7 + i % 4, at=WED, email=f"c{i}@example.com", comment=f"answer {i}")
        detractor = answer(engine, ws, score=3, at=WED)
        csat_four = answer(engine, ws, score=4, survey="csat", at=WED)  # CSAT follow-ups are opt-in
        assert detractor.case_id is not None
        assert len(follow_ups(engine)) == PER_PAGE + 2
        await cx.deliver()
        assert posts(cx) == []  # no alert per follow-up: they wait for the day's post
        await run_at(cx, THU_9 - timedelta(minutes=1))
        assert posts(cx) == []
        await run_at(cx, THU_9)
        first, second = posts(cx)
        assert "follow-ups for Thursday 26 November" in text_of(first)
        assert "Page 1 of 2; the other pages are in the thread." in text_of(first)
        assert second["thread_ts"] == first["ts"] and "Page 2 of 2" in text_of(second)
        assert text_of(first).count('"Take"') == PER_PAGE and text_of(second).count('"Take"') == 2
        # masked as alerts are: no full email in the channel
        assert "c0@example.com" not in text_of(first) and MASKED in text_of(first)
        # a re-run, a second replica, Friday's run: nothing listed twice
        await run_at(cx, THU_9 + timedelta(minutes=5))
        await run_at(cx, THU_9 + timedelta(days=1))
        assert len(posts(cx)) == 2
        assert csat_four.case_id is None


async def test_a_follow_up_is_taken_once_then_worked_in_three_steps_in_order(engine):
    ws = workspace(follow_up={"nps": {"review_url": "https://reviews.example.com/acme"}})
    async with CxHarness(engine, workspace=ws) as cx:
        cx.clock.now = WED
        answer(engine, ws, score=10, at=WED, comment="Alice sorted it in minutes")
        await run_at(cx, THU_9)
        (post,) = posts(cx)
        await cx.click("U0PRIYA", post, "followup_take")  # billing can't take support's
        assert any("Only members of the support team" in t for t in cx.ephemerals_for("U0PRIYA"))
        await cx.click("U0ALICE", post, "followup_take")
        await cx.click("U0BOB", post, "followup_take")  # the same button, a moment later
        assert any("already taken" in t for t in cx.ephemerals_for("U0BOB"))
        await cx.deliver()
        assert "Taken by <@U0ALICE>" in text_of(posts(cx)[0])
        (dm,) = dm_of(cx, "U0ALICE")
        assert "1. Thank them" in text_of(dm)
        # step 1, then 2 (the review link for a promoter), then 3 (what they said, required)
        await cx.click("U0ALICE", dm, "followup_step", channel=cx.slack._conversations["U0ALICE"])
        await cx.submit("U0ALICE", cx.last_modal(), {"note": ""})
        await cx.deliver()
        dm = dm_of(cx, "U0ALICE")[0]
        assert "2. Ask" in text_of(dm)
        await cx.click("U0ALICE", dm, "followup_step", channel=cx.slack._conversations["U0ALICE"])
        assert "https://reviews.example.com/acme" in text_of(cx.last_modal())
        await cx.submit("U0ALICE", cx.last_modal(), {"note": "sent the link"})
        await cx.deliver()
        dm = dm_of(cx, "U0ALICE")[0]
        await cx.click("U0ALICE", dm, "followup_step", channel=cx.slack._conversations["U0ALICE"])
        modal = cx.last_modal()
        refused = (await cx.submit("U0ALICE", modal, {"note": "  "})).json()
        assert refused["response_action"] == "errors" and "required" in str(refused["errors"])
        await cx.submit("U0ALICE", modal, {"note": "Will review us on Friday"})
        await cx.deliver()
        (row,) = follow_ups(engine)
        assert row.status == "done" and row.done_at == WED.replace(day=26, hour=9)
        with Session(engine) as s:
            assert [st.step for st in s.exec(select(FollowUpStep).order_by(FollowUpStep.id))] == ["thank", "ask", "record"]
        assert "✅ Done" in text_of(posts(cx)[0])
        assert "Will review us on Friday" in text_of(dm_of(cx, "U0ALICE")[0])
        # the step button of an old DM: nothing is ticked twice
        await cx.click("U0ALICE", dm, "followup_step", channel=cx.slack._conversations["U0ALICE"])
        assert any("done already" in t for t in cx.ephemerals_for("U0ALICE"))


async def test_a_late_follow_up_reminds_its_owner_once_and_never_escalates(engine):
    ws = workspace(follow_up={"nps": {"within": "1d"}})
    async with CxHarness(engine, workspace=ws) as cx:
        cx.clock.now = WED
        answer(engine, ws, score=8, at=WED)
        await run_at(cx, THU_9)
        await cx.click("U0ALICE", posts(cx)[0], "followup_take")
        await cx.deliver()
        (row,) = follow_ups(engine)
        assert row.due_at == WED + timedelta(days=1)
        def nudges(word: str) -> list[dict]:
            return [m for m in dm_of(cx, "U0ALICE") if word in text_of(m)]

        await run_at(cx, row.due_at - timedelta(hours=1))
        await run_at(cx, row.due_at - timedelta(minutes=30))
        assert len(nudges("is due soon")) == 1 and nudges("overdue") == []
        await run_at(cx, row.due_at + timedelta(minutes=1))
        await run_at(cx, row.due_at + timedelta(days=1))
        assert len(nudges("is due soon")) == 1
        (late,) = nudges("overdue")
        assert "Follow-up #1 is overdue" in text_of(late)
        assert not [m for m in dm_of(cx, "U0MANAGER") if "ollow-up" in text_of(m)]  # never escalated


async def test_mine_and_the_app_home_show_follow_ups_beside_cases(engine):
    ws = workspace()
    async with CxHarness(engine, workspace=ws) as cx:
        cx.clock.now = WED
        answer(engine, ws, score=9, at=WED)
        await run_at(cx, THU_9)
        await cx.click("U0ALICE", posts(cx)[0], "followup_take")
        mine = (await cx.command("U0ALICE", "mine")).json()
        assert "Your follow-ups (1)" in str(mine) and "next: 1. Thank them" in str(mine)
        await cx.sender.home_opened("U0ALICE")
        await cx.rt.wait_idle()
        home = cx.slack.calls_to("views.publish")[-1].body["view"]
        assert "Your follow-ups (1)" in str(home)


async def test_an_old_answer_delivered_late_is_history_not_a_follow_up(engine):
    ws = workspace()
    async with CxHarness(engine, workspace=ws) as cx:
        cx.clock.now = WED
        answer(engine, ws, score=9, at=WED - timedelta(days=8), stored=WED)
        answer(engine, ws, score=9, at=WED - timedelta(days=6), stored=WED)
        assert [f.response_id for f in follow_ups(engine)] == [2]


async def test_in_teams_the_daily_post_take_and_the_three_steps_work_the_same(engine):
    from standins.teams_cards import text_of as card_text
    from tests.teams_harness import ALICE, SUPPORT, TeamsHarness, dialog_card, dialog_message

    async with TeamsHarness(engine) as cx:
        await cx.install()
        cx.clock.now = WED
        answer(engine, cx.ws, score=9, at=WED, name="Dana Reyes")
        cx.clock.now = THU_9
        await run_due(engine, cx.ws, cx.settings, at=THU_9, deliverer=cx.deliverer)
        (post,) = [p for p in cx.teams.posts(SUPPORT) if "follow-ups for Thursday" in card_text(p)]
        assert "Dana Reyes" in card_text(post)
        assert "You took follow-up #1" in dialog_message(await cx.click(ALICE, post, "Take"))
        await cx.deliver()
        for title, inputs in (("1. Thank them", {}), ("2. Ask", {"note": "asked for a review"}),
                              ("3. Record what they said", {"note": "Happy to write one"})):
            (dm,) = cx.dm(ALICE)
            dialog = await cx.click(ALICE, dm, title)
            assert title.split(". ", 1)[1] in str(dialog_card(dialog))
            assert await cx.submit(ALICE, dialog, inputs, dm) is None
            await cx.deliver()
        (row,) = follow_ups(engine)
        assert row.status == "done"
        assert "Happy to write one" in card_text(cx.dm(ALICE)[0])
