"""Teams delivery through the outbox: paced, retried on 429/412/502/504, given up on 403/404, never lost."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from sqlmodel import Session, select

from bot.intake.store import record_response
from bot.nudges.jobs import queue_due_nudges
from standins.teams_cards import text_of
from storage.models import Case
from storage.types import utcnow
from tests.teams_harness import ALICE, SUPPORT, TeamsHarness
from tests.test_teams_flow import detractor

LATER = timedelta(minutes=30)


async def drain_all(cx: TeamsHarness, rounds: int = 6) -> None:
    for _ in range(rounds):
        await cx.deliverer.drain(now=utcnow() + LATER)


def teams_rows(cx: TeamsHarness):
    return [o for o in cx.outbox() if o.platform == "teams"]


def alert_posts(cx: TeamsHarness) -> list[dict]:
    return [p for p in cx.teams.posts(SUPPORT) if (p.get("from") or {}).get("id") == cx.teams.bot_id]


async def test_429_waits_for_retry_after_then_posts_once(engine):
    async with TeamsHarness(engine, welcome=False) as cx:
        await cx.install()
        for n in range(3):
            record_response(engine, cx.ws, detractor(ext=f"r-{n}"))
        cx.teams.fail_next("send", status=429, retry_after=1, times=2)
        await cx.deliverer.drain()
        row = next(o for o in teams_rows(cx) if o.last_error)
        assert "rate limited by Teams" in row.last_error
        assert timedelta(seconds=0.5) < row.next_attempt_at - utcnow() <= timedelta(seconds=1.5)
        deadline = time.monotonic() + 20
        while any(o.status == "pending" for o in teams_rows(cx)):
            # The Retry-After is kept on the database's clock: it passes in real time.
            assert time.monotonic() < deadline
            await cx.deliverer.drain(now=utcnow() + LATER)
            await asyncio.sleep(0.05)
        assert all(o.status == "sent" for o in teams_rows(cx))
        assert len(alert_posts(cx)) == 3  # every alert once: nothing lost, nothing doubled
        sends = cx.teams.calls_to("send")
        assert [c.status for c in sends] == [429, 429, 201, 201, 201]
        assert sends[1].at - sends[0].at >= 0.95 and sends[2].at - sends[1].at >= 0.95, "Retry-After waited out"


async def test_412_and_gateway_errors_before_teams_took_the_message_are_retried_once_each(engine):
    async with TeamsHarness(engine, welcome=False) as cx:
        await cx.install()
        record_response(engine, cx.ws, detractor())
        for status in (412, 502, 504):
            cx.teams.fail_next("send", status=status)
        await drain_all(cx)
        assert [c.status for c in cx.teams.calls_to("send")] == [412, 502, 504, 201]
        assert len(alert_posts(cx)) == 1


async def test_an_edit_that_fails_is_retried_in_place(engine):
    async with TeamsHarness(engine, welcome=False) as cx:
        await cx.install()
        record_response(engine, cx.ws, detractor())
        await cx.deliver()
        await cx.click(ALICE, cx.alert(1), "Take it")
        cx.teams.fail_next("update", status=502, times=1)
        await drain_all(cx)
        alert = cx.alert(1)
        assert "In progress" in text_of(alert) and len(alert_posts(cx)) == 1


async def test_a_conversation_cxloop_was_removed_from_fails_for_good_and_the_rest_go_on(engine):
    async with TeamsHarness(engine, welcome=False) as cx:
        await cx.install()
        record_response(engine, cx.ws, detractor())
        record_response(engine, cx.ws, detractor(ext="r-bill", touchpoint="billing"))
        cx.teams.remove_bot(SUPPORT)
        await drain_all(cx)
        support = cx.sent("teams:case:1:alert")
        assert support.status == "failed" and "removed" in support.last_error and "403" in support.last_error
        assert cx.sent("teams:case:2:alert").status == "sent"


async def test_an_alert_waits_for_cxloop_to_be_added_to_the_team_then_goes_out(engine):
    async with TeamsHarness(engine, welcome=False) as cx:
        record_response(engine, cx.ws, detractor())
        await cx.deliver()
        row = cx.sent("teams:case:1:alert")
        assert row.status == "pending" and "add cxloop to the team" in row.last_error
        await cx.install()
        await drain_all(cx)
        assert cx.sent("teams:case:1:alert").status == "sent" and len(alert_posts(cx)) == 1


async def test_an_alert_for_a_channel_never_installed_is_given_up_after_a_day(engine):
    async with TeamsHarness(engine, welcome=False) as cx:
        record_response(engine, cx.ws, detractor())
        cx.port.install_grace = timedelta(0)
        await cx.deliver()
        row = cx.sent("teams:case:1:alert")
        assert row.status == "failed" and "gave up" in row.last_error


async def test_thread_notes_go_to_the_alerts_thread(engine):
    async with TeamsHarness(engine, welcome=False) as cx:
        await cx.install()
        record_response(engine, cx.ws, detractor(comment="Long. " * 600))  # the full comment goes in the thread
        await cx.deliver()
        alert = cx.alert(1)
        (full,) = cx.thread(1)
        assert full["conversationId"] == f"{SUPPORT};messageid={alert['id']}"
        assert "Full comment" in text_of(full)
        await cx.click(ALICE, alert, "Take it")
        await cx.deliver()
        assert [("took the case" in text_of(m)) for m in cx.thread(1)] == [False, True]


async def test_a_nudge_reaches_the_owner_in_their_personal_chat(engine):
    async with TeamsHarness(engine, welcome=False) as cx:
        await cx.install()
        chat = await cx.teams.install_personal(cx.bot_url, ALICE)
        record_response(engine, cx.ws, detractor())
        await cx.deliver()
        await cx.click(ALICE, cx.alert(1), "Take it")
        await cx.deliver()
        with Session(engine) as s:
            due = s.exec(select(Case.respond_due_at)).one()
        assert queue_due_nudges(engine, cx.ws, due + timedelta(hours=1)) >= 1
        await cx.deliverer.drain(now=due + timedelta(days=3))
        in_chat = cx.teams.activities(chat)
        assert len(in_chat) == 2  # the case card, then the reminder
        assert "overdue" in text_of(in_chat[-1]).lower() or "respond" in text_of(in_chat[-1]).lower()
        assert not cx.teams.calls_to("create_conversation")  # the chat the app was installed in


async def test_pacing_keeps_a_burst_within_seven_a_second(engine):
    async with TeamsHarness(engine, welcome=False, pacing=0.15, enforce_rate=True) as cx:
        await cx.install()
        for n in range(12):
            record_response(engine, cx.ws, detractor(ext=f"r-{n}"))
        await drain_all(cx, rounds=2)
        assert len(alert_posts(cx)) == 12
        assert not [c for c in cx.teams.calls_to("send") if c.status == 429]
        sends = [c.at for c in cx.teams.calls_to("send")]
        assert all(b - a >= 0.14 for a, b in zip(sends, sends[1:]))


async def test_a_digest_chart_goes_in_the_thread_of_its_post_as_an_inline_picture(engine):
    import base64

    from bot.chat.messages import Header, Image, Message, Section, plain
    from bot.machinery.queueing import enqueue
    from bot.reporting.charts import Series, trend_png
    from storage.db import session_scope

    png = trend_png([utcnow().date() - timedelta(weeks=w) for w in range(8, 0, -1)],
                    [Series("NPS", [5.0 * w for w in range(8)], -100, 100)], title="Support")
    digest = Message(text="Weekly digest", blocks=[Header(text="Weekly digest"), Section(spans=[plain("12 loops closed")]),
                                                   Image(filename="d.png", alt="NPS over 8 weeks", title="Trend",
                                                         png_base64=base64.b64encode(png).decode())])
    async with TeamsHarness(engine, welcome=False) as cx:
        await cx.install()
        with session_scope(engine) as s:
            enqueue(s, key="teams:digest:support:w1", platform="teams", action="post", target=SUPPORT, message=digest)
        await drain_all(cx)
        (post,) = alert_posts(cx)
        assert "12 loops closed" in text_of(post)
        (chart,) = cx.teams.thread(SUPPORT, post["id"])
        from standins.teams_cards import card_of

        (image,) = [el for el in card_of(chart)["body"] if el["type"] == "Image"]
        assert image["url"].startswith("data:image/png;base64,") and image["altText"] == "NPS over 8 weeks"
        assert not cx.teams.rejected
