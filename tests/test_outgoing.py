"""The outgoing webhook: loops closed and follow-ups done, told to a local receiver (what Zapier, n8n or a
survey tool would run), signed as the incoming generic webhook is, through the outbox: retried on the
receiver's failures with the same idempotency key and the same bytes, and never doubled."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import Session, select

from bot.config import parse_workspace, load_workspace
from bot.errors import ConfigError
from handlers.jobs import run_due
from standins.webhook_receiver import WebhookReceiver
from storage.models import OutboxMessage
from tests.harness import CxHarness
from tests.loops_factories import answer, close_loop, workspace

SECRET = "outgoing-secret-0123456789"
OPENED = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
CLOSED = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


@asynccontextmanager
async def cxloop_telling_a_receiver(engine, **outgoing) -> AsyncIterator[tuple[CxHarness, WebhookReceiver]]:
    receiver = WebhookReceiver(secret=SECRET)
    await receiver.start()
    try:
        ws = workspace(outgoing={"url": receiver.url, "secret": SECRET, **outgoing})
        async with CxHarness(engine, workspace=ws) as cx:
            yield cx, receiver
    finally:
        await receiver.close()


async def a_closed_loop(cx: CxHarness) -> int:
    case = answer(cx.engine, cx.ws, score=2, at=OPENED, customer_id="c-77", email="dana@example.com").case_id
    close_loop(cx.engine, cx.ws, case, owner="U0ALICE", at=OPENED, closed=CLOSED)
    cx.clock.now = CLOSED
    await run_due(cx.engine, cx.ws, cx.settings, at=CLOSED, deliverer=cx.deliverer)
    return case


def webhook_rows(engine) -> list[OutboxMessage]:
    with Session(engine) as s:
        return list(s.exec(select(OutboxMessage).where(OutboxMessage.platform == "webhook")))


async def later(cx: CxHarness, seconds: float) -> int:
    cx.clock.now += timedelta(seconds=seconds)
    return await cx.deliver()


async def test_a_closed_loop_is_told_once_signed_with_an_idempotency_key(engine):
    async with cxloop_telling_a_receiver(engine) as (cx, receiver):
        case = await a_closed_loop(cx)
        (got,) = receiver.requests
        expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
        assert got.headers["X-Cxloop-Signature"] == expected and got.status == 200
        event = got.json()
        assert got.headers["X-Cxloop-Event"] == event["event"] == "loop_closed"
        assert got.key == event["id"] and event["id"].startswith(f"webhook:loop_closed:case:{case}:")
        assert event["case"]["id"] == case and event["case"]["within_sla"] is True
        assert event["customer"] == {"id": "c-77", "name": "Dana Reyes", "email": "dana@example.com"}
        assert event["occurred_at"] == "2026-11-25T12:00:00Z"
        # the job runs every minute, a replica runs it too: still one event
        await run_due(cx.engine, cx.ws, cx.settings, at=CLOSED + timedelta(minutes=1), deliverer=cx.deliverer)
        await run_due(cx.engine, cx.ws, cx.settings, at=CLOSED + timedelta(minutes=1), deliverer=cx.deliverer)
        assert len(receiver.requests) == 1


async def test_a_receiver_that_fails_after_taking_the_event_gets_the_same_bytes_and_key_again(engine):
    async with cxloop_telling_a_receiver(engine) as (cx, receiver):
        receiver.fail_next(500, after_processing=True)
        await a_closed_loop(cx)
        assert [r.status for r in receiver.requests] == [500]
        (row,) = webhook_rows(engine)
        assert row.status == "pending" and "answered 500" in (row.last_error or "")
        assert await later(cx, 1) == 0  # the back-off first
        assert await later(cx, 5) == 1
        first, second = receiver.requests
        assert (second.body, second.key, second.status) == (first.body, first.key, 200)
        assert len(receiver.events()) == 1  # the receiver keyed it: taken once


async def test_a_busy_receiver_is_waited_for_and_a_slow_one_retried(engine):
    async with cxloop_telling_a_receiver(engine, timeout="0.5s") as (cx, receiver):
        receiver.fail_next(429, retry_after="1")
        await a_closed_loop(cx)
        assert await later(cx, 0.2) == 0  # it said a second (every worker waits it out: database time)
        await asyncio.sleep(1.1)
        receiver.stall_next(2.0)  # longer than the 0.5 s timeout: cxloop gives up on it
        assert await later(cx, 1) == 0
        assert await later(cx, 5) == 1
        busy, slow, last = receiver.requests
        assert (busy.status, last.status) == (429, 200)  # the slow one's answer came after cxloop had gone
        assert len({r.key for r in receiver.requests}) == 1 and len(receiver.events()) == 1


async def test_a_refused_event_fails_for_good_with_the_reason_kept(engine):
    async with cxloop_telling_a_receiver(engine) as (cx, receiver):
        receiver.fail_next(400)
        await a_closed_loop(cx)
        assert await later(cx, 600) == 0
        (row,) = webhook_rows(engine)
        assert row.status == "failed" and "answered 400" in (row.last_error or "")
        assert len(receiver.requests) == 1


async def test_a_finished_follow_up_is_told_only_when_that_event_is_wanted(engine):
    async with cxloop_telling_a_receiver(engine, events=["follow_up_done"]) as (cx, receiver):
        await a_closed_loop(cx)
        assert receiver.requests == []  # loop_closed is not wanted
        from bot.followup import actions  # noqa: F401  (registers the follow-up actions)
        from bot.followup import service as followups
        from bot.followup.notify import publish_step
        from bot.followup import outgoing
        from bot.followup.rules import Step
        from bot.people.roster import actor_for, member_by_slack
        from storage.db import session_scope

        answer(cx.engine, cx.ws, score=9, at=CLOSED, customer_id="c-9", name="Jo")
        with session_scope(cx.engine) as s:
            alice = actor_for(s, member_by_slack(s, "U0ALICE"))
            followups.take(s, alice, 1, now=CLOSED)
            for step in Step:
                row = followups.tick(s, alice, 1, step, note="Loves the new app", now=CLOSED)
            outgoing.follow_up_done(s, cx.ws, publish_step(s, cx.ws, row))
            outgoing.follow_up_done(s, cx.ws, publish_step(s, cx.ws, row))  # asked twice: queued once
        await cx.deliver()
        (got,) = receiver.requests
        event = got.json()
        assert event["event"] == "follow_up_done" and event["follow_up"]["customer_said"] == "Loves the new app"
        assert event["follow_up"]["owner"]["slack_user_id"] == "U0ALICE"


@pytest.mark.parametrize("outgoing, problem", [
    ({"url": "http://hooks.example.com/x", "secret": SECRET}, "https://"),
    ({"url": "https://hooks.example.com/x", "secret": "short"}, "secret"),
    ({"url": "https://hooks.example.com/x", "secret": SECRET, "events": ["loop_opened"]}, "'loop_opened' is not an event"),
])
def test_a_bad_outgoing_setting_is_refused_naming_it(outgoing, problem):
    data = load_workspace().model_dump(mode="json", exclude_none=True)
    with pytest.raises(ConfigError) as err:
        parse_workspace({**data, "outgoing": outgoing})
    assert "outgoing" in str(err.value) and problem in str(err.value)
