"""The outbox: nothing lost, nothing doubled, whatever Slack or the process does."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlmodel import Session, select

from bot.intake import record_response
from bot.outbox import Deliverer, _claim
from bot.surveys import build_response
from handlers.serve import make_deliverer
from storage.models import OutboxMessage
from storage.types import utcnow
from tests.harness import CxHarness

LATER = timedelta(minutes=30)


def detractor(n: int, touchpoint: str = "phone"):
    return build_response({"source": "generic", "external_id": f"r-{n}", "survey": "nps", "score": 1,
                           "comment": f"complaint {n}", "touchpoint": touchpoint, "responded_at": "2026-11-20T10:15:00Z"})


def top_level_keys(cx: CxHarness, channel: str) -> Counter:
    return Counter(((m.get("metadata") or {}).get("event_payload") or {}).get("key")
                   for m in cx.slack.messages(channel) if not m.get("thread_ts") or m.get("thread_ts") == m["ts"])


async def drain_all(cx: CxHarness, rounds: int = 6) -> None:
    for _ in range(rounds):
        await cx.deliverer.drain(now=utcnow() + LATER)


def pending(cx: CxHarness) -> list[OutboxMessage]:
    return [o for o in cx.outbox() if o.status == "pending"]


async def test_429_is_retried_after_retry_after_with_no_loss_or_duplicate(engine):
    async with CxHarness(engine) as cx:
        for n in range(5):
            record_response(engine, cx.ws, detractor(n))
        cx.slack.fail_next("chat.postMessage", status=429, retry_after=7, times=2)
        await cx.deliverer.drain()
        row = next(o for o in cx.outbox() if o.last_error)
        assert "rate limited" in row.last_error
        # the wait honours Retry-After (7 s), not a default backoff
        assert timedelta(seconds=6) < row.next_attempt_at - utcnow() <= timedelta(seconds=8)
        await drain_all(cx)
        assert not pending(cx)
        keys = top_level_keys(cx, "C0SUPPORT")
        assert sorted(keys) == [f"slack:case:{n}:alert" for n in range(1, 6)]
        assert set(keys.values()) == {1}


async def test_500_and_timeouts_are_retried_and_never_doubled(engine):
    async with CxHarness(engine) as cx:
        for n in range(3):
            record_response(engine, cx.ws, detractor(n))
        cx.deliverer.ports["slack"].client.timeout = 1  # type: ignore[attr-defined]
        cx.slack.fail_next("chat.postMessage", status=500)
        cx.slack.fail_next("chat.postMessage", delay=3.0)  # the client gives up; Slack posts it anyway
        await drain_all(cx)
        assert not pending(cx)
        keys = top_level_keys(cx, "C0SUPPORT")
        assert sorted(keys) == [f"slack:case:{n}:alert" for n in range(1, 4)]
        assert set(keys.values()) == {1}, keys


async def test_work_done_but_unacknowledged_is_found_not_reposted(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, detractor(1))
        cx.slack.fail_after_processing("chat.postMessage", status=500)
        await drain_all(cx)
        assert top_level_keys(cx, "C0SUPPORT") == Counter({"slack:case:1:alert": 1})
        assert len(cx.slack.calls_to("conversations.history")) >= 1
        row = cx.outbox()[0]
        assert row.status == "sent" and row.sent_ref == cx.alert(1)["ts"]


async def test_restart_with_undelivered_messages_delivers_them_once(engine):
    async with CxHarness(engine) as cx:
        for n in range(4):
            record_response(engine, cx.ws, detractor(n))
        # a worker claims everything and dies before sending
        claimed = _claim(engine, ["slack"], "dead-worker", utcnow(), 100)
        assert len([r for r in claimed if r.action == "post"]) == 4
        fresh = make_deliverer(cx.rt)
        fresh.ports["slack"].per_channel_gap = 0  # type: ignore[attr-defined]
        assert await fresh.drain() == 0  # the lease still holds: nothing is sent twice in parallel
        assert await fresh.drain(now=utcnow() + timedelta(minutes=2)) == len(claimed)
        assert set(top_level_keys(cx, "C0SUPPORT").values()) == {1}
        assert len(top_level_keys(cx, "C0SUPPORT")) == 4


async def test_a_crash_after_posting_is_reconciled_after_restart(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, detractor(1))
        # first worker posts, then dies before recording the result
        rows = [r for r in _claim(engine, ["slack"], "dying-worker", utcnow(), 10) if r.action == "post"]
        port = cx.deliverer.ports["slack"]
        await port.send(rows[0], thread=None, anchor=None)
        fresh = make_deliverer(cx.rt)
        await fresh.drain(now=utcnow() + timedelta(minutes=2))
        assert top_level_keys(cx, "C0SUPPORT") == Counter({"slack:case:1:alert": 1})


async def test_replies_wait_for_their_parent_and_edits_collapse(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, detractor(1))
        cx.slack.fail_next("chat.postMessage", status=500)
        await cx.deliverer.drain()
        assert not cx.slack.messages("C0SUPPORT")
        # changes made while the alert is stuck: updates and thread notes queue behind it
        from bot import cases
        from bot.notify import publish_change
        from bot.roster import actor_for, member_by_slack
        from storage.db import session_scope
        with session_scope(engine) as s:
            alice = actor_for(s, member_by_slack(s, "U0ALICE"))
            ev = cases.take(s, alice, 1)
            publish_change(s, cx.ws, cases.get_case(s, 1), ev)
        with session_scope(engine) as s:
            alice = actor_for(s, member_by_slack(s, "U0ALICE"))
            from bot.resolved import ResolvedStep
            ev = cases.tick_step(s, alice, 1, ResolvedStep.RESPOND, note="called")
            publish_change(s, cx.ws, cases.get_case(s, 1), ev)
        statuses = Counter(o.status for o in cx.outbox() if o.action == "update" and o.target == "C0SUPPORT")
        assert statuses == Counter({"pending": 1, "superseded": 1})
        await drain_all(cx)
        assert not pending(cx)
        alert = cx.alert(1)
        replies = cx.thread(1)
        assert len(replies) == 2 and all(r["thread_ts"] == alert["ts"] for r in replies)
        assert len([c for c in cx.slack.calls_to("chat.update") if c.body["channel"] == "C0SUPPORT"]) == 1


async def test_pacing_keeps_one_message_per_second_per_channel(engine):
    async with CxHarness(engine, pacing=1.0, enforce_channel_rate=True) as cx:
        for n in range(3):
            record_response(engine, cx.ws, detractor(n))
        record_response(engine, cx.ws, detractor(10, touchpoint="refund"))
        await cx.deliverer.drain()
        assert cx.slack.rejected_429 == 0
        posts = [c for c in cx.slack.calls_to("chat.postMessage") if c.body["channel"] == "C0SUPPORT"]
        gaps = [b.at - a.at for a, b in zip(posts, posts[1:])]
        assert len(posts) == 3 and all(g >= 0.95 for g in gaps), gaps
        # another channel is not held back by the first one's pacing
        billing = [c for c in cx.slack.calls_to("chat.postMessage") if c.body["channel"] == "C0BILLING"]
        assert billing and billing[0].at - posts[0].at < 0.9


async def test_an_unknown_channel_fails_that_message_only(engine):
    async with CxHarness(engine) as cx:
        cx.slack.add_channel("C0BILLING", name="billing")  # C0SUPPORT now unknown to the workspace
        record_response(engine, cx.ws, detractor(1))
        record_response(engine, cx.ws, detractor(2, touchpoint="refund"))
        await drain_all(cx)
        by_target = {o.target: o for o in cx.outbox() if o.action == "post"}
        assert by_target["C0SUPPORT"].status == "failed" and "channel_not_found" in by_target["C0SUPPORT"].last_error
        assert by_target["C0BILLING"].status == "sent"
