"""The outbox: nothing lost, nothing doubled, whatever Slack or the process does."""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from bot.config import load_workspace
from bot.intake.store import record_response
from bot.intake.surveys import build_response
from bot.machinery import pace
from bot.machinery.outbox import Deliverer, _claim
from bot.machinery.runtime import Runtime
from handlers.platforms import make_deliverer
from storage.db import make_engine, session_scope
from storage.models import OutboxMessage, SendPace
from storage.types import utcnow
from tests.conftest import cli_env
from tests.harness import SETTLE, SIGNING_SECRET, TOKEN, CxHarness

LATER = timedelta(minutes=30)
ALERT = "slack:case:1:alert"


def detractor(n: int, touchpoint: str = "phone"):
    return build_response({"source": "generic", "external_id": f"r-{n}", "survey": "nps", "score": 1,
                           "comment": f"complaint {n}", "touchpoint": touchpoint, "responded_at": "2026-11-20T10:15:00Z"})


def key_of(message: dict) -> str | None:
    return ((message.get("metadata") or {}).get("event_payload") or {}).get("key")


def top_level_keys(cx: CxHarness, channel: str) -> Counter:
    return Counter(key_of(m) for m in cx.slack.messages(channel) if not m.get("thread_ts") or m.get("thread_ts") == m["ts"])


async def drain_all(cx: CxHarness, rounds: int = 6) -> None:
    for _ in range(rounds):
        await cx.deliverer.drain(now=utcnow() + LATER)


async def deliver_until_settled(cx: CxHarness, *workers: Deliverer, within: float = 30.0) -> None:
    """Deliver until nothing is pending: the process clock is taken well ahead (back-offs are due at
    once), while waits the database's clock keeps (Retry-After, pace, settling) pass in real time."""
    deadline = time.monotonic() + within
    while pending(cx):
        for d in workers or (cx.deliverer,):
            await d.drain(now=utcnow() + LATER)
        assert time.monotonic() < deadline, f"still pending after {within} s: {pending(cx)}"
        await asyncio.sleep(0.05)


def pending(cx: CxHarness) -> list[OutboxMessage]:
    return [o for o in cx.outbox() if o.status == "pending"]


def row(cx: CxHarness, key: str) -> OutboxMessage:
    return next(o for o in cx.outbox() if o.dedupe_key == key)


def posts_of(cx: CxHarness, key: str) -> list:
    return [c for c in cx.slack.calls_to("chat.postMessage") if key_of(c.body) == key]


def another_worker(cx: CxHarness, db_url: str, *, gap: float = 0.0) -> Deliverer:
    """A second replica: its own engine (its own connections, as on another machine), its own port."""
    engine = make_engine(db_url)
    d = make_deliverer(Runtime(engine=engine, workspace=cx.ws, settings=cx.settings))
    assert d is not None
    d.ports["slack"].per_channel_gap = gap  # type: ignore[attr-defined]
    d.ports["slack"].settle = SETTLE  # type: ignore[attr-defined]
    return d


# --- a send that may have happened is looked for, never repeated blind ------------------------

POST_FAULTS = {
    "500 after posting": lambda slack: slack.fail_after_processing("chat.postMessage", status=500),
    "500 before posting": lambda slack: slack.fail_next("chat.postMessage", status=500),
    # The client gives up at 0.75 s (CLIENT_TIMEOUT); Slack posts it anyway at 1.5 s.
    "timeout, posted late": lambda slack: slack.fail_next("chat.postMessage", delay=1.5),
}
LOOKUP_FAULTS = {
    "429": lambda slack: slack.fail_next("conversations.history", status=429, retry_after=1),
    "500": lambda slack: slack.fail_next("conversations.history", status=500),
    "timeout": lambda slack: slack.fail_next("conversations.history", delay=1.5),
}
CLIENT_TIMEOUT = 0.75


@pytest.mark.parametrize("lookup_faults", list(itertools.permutations(LOOKUP_FAULTS)), ids="-then-".join)
@pytest.mark.parametrize("post_fault", list(POST_FAULTS))
async def test_a_post_that_may_have_happened_is_looked_for_until_slack_answers(engine, post_fault, lookup_faults):
    async with CxHarness(engine) as cx:
        cx.deliverer.ports["slack"].client.timeout = CLIENT_TIMEOUT  # type: ignore[attr-defined]
        record_response(engine, cx.ws, detractor(1))
        POST_FAULTS[post_fault](cx.slack)
        for fault in lookup_faults:
            LOOKUP_FAULTS[fault](cx.slack)
        await cx.deliverer.drain()
        assert row(cx, ALERT).maybe_sent, "after an unclear answer the row says it may have been sent"

        await deliver_until_settled(cx)
        await asyncio.sleep(1.0)  # anything still in flight at Slack has landed by now

        assert top_level_keys(cx, "C0SUPPORT") == Counter({ALERT: 1}), "exactly one alert"
        lookups = cx.slack.calls_to("conversations.history")
        # The first three look-ups fail, as injected; only the fourth can answer. (A slow machine
        # may add a timeout of its own, and with it another look-up.)
        assert len(lookups) >= 4, "each failed look-up is followed by another, until one is answered"
        assert all(c.at > lookups[3].at for c in posts_of(cx, ALERT)[1:]), "no post before a look-up answered"
        sent = row(cx, ALERT)
        assert sent.status == "sent" and not sent.maybe_sent and sent.sent_ref == cx.alert(1)["ts"]


async def test_a_post_whose_kept_alive_connection_dropped_after_slack_posted_it_is_looked_for_not_repeated(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, detractor(1))
        cx.slack.fail_after_processing("chat.postMessage", hang_up=True)  # posted, then no answer at all
        await cx.deliverer.drain()
        assert row(cx, ALERT).maybe_sent, "a dropped connection leaves the post in doubt"
        await deliver_until_settled(cx)
        assert top_level_keys(cx, "C0SUPPORT") == Counter({ALERT: 1}), "exactly one alert"
        assert len(posts_of(cx, ALERT)) == 1, "found by the look-up, not posted again"
        assert cx.slack.calls_to("conversations.history")
        sent = row(cx, ALERT)
        assert sent.status == "sent" and not sent.maybe_sent and sent.sent_ref == cx.alert(1)["ts"]


async def test_a_timed_out_post_is_not_looked_for_before_it_could_have_landed(engine):
    async with CxHarness(engine) as cx:
        cx.deliverer.ports["slack"].client.timeout = CLIENT_TIMEOUT  # type: ignore[attr-defined]
        record_response(engine, cx.ws, detractor(1))
        cx.slack.fail_next("chat.postMessage", delay=1.75)  # lands a second after the client gave up
        await deliver_until_settled(cx)
        await asyncio.sleep(1.0)
        assert top_level_keys(cx, "C0SUPPORT") == Counter({ALERT: 1})
        lookup = cx.slack.calls_to("conversations.history")[0]
        assert lookup.at - posts_of(cx, ALERT)[0].at >= CLIENT_TIMEOUT + SETTLE - 0.05, "it waited to settle"


async def test_a_429_on_the_post_itself_means_nothing_was_posted_and_no_look_up_is_needed(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, detractor(1))
        cx.slack.fail_next("chat.postMessage", status=429, retry_after=1)
        await cx.deliverer.drain()
        assert not row(cx, ALERT).maybe_sent
        await deliver_until_settled(cx)
        assert top_level_keys(cx, "C0SUPPORT") == Counter({ALERT: 1})
        assert cx.slack.calls_to("conversations.history") == []


async def test_a_chart_whose_upload_may_have_happened_is_found_in_its_thread_not_uploaded_again(engine):
    import base64

    from bot.chat.messages import Image, Message
    from bot.machinery.queueing import enqueue

    async with CxHarness(engine) as cx:
        chart = Image(filename="digest-support-2026-11-16.png", alt="NPS by week", title="NPS trend",
                      png_base64=base64.b64encode(b"\x89PNG not really").decode())
        with session_scope(engine) as s:
            enqueue(s, key="slack:digest:support", platform="slack", action="post", target="C0SUPPORT",
                    message=Message(text="Weekly digest", blocks=[chart]))
        cx.slack.fail_after_processing("files.completeUploadExternal", status=500)
        await deliver_until_settled(cx)
        digest = next(m for m in cx.slack.messages("C0SUPPORT") if m["text"] == "Weekly digest")
        shared = [m for m in cx.slack.messages("C0SUPPORT") if m.get("files")]
        assert len(shared) == 1 and shared[0]["thread_ts"] == digest["ts"], "one chart, in the digest's thread"
        assert len(cx.slack.calls_to("files.completeUploadExternal")) == 1
        assert row(cx, "slack:digest:support:image:0").status == "sent"


async def test_a_crash_after_posting_is_reconciled_after_restart(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, detractor(1))
        cx.slack.fail_next("chat.postMessage", delay=1.0)  # Slack is slow to answer...
        worker = asyncio.create_task(cx.deliverer.drain())
        await asyncio.to_thread(lambda: _until(lambda: posts_of(cx, ALERT)))
        worker.cancel()  # ...and the worker dies mid-send, before recording anything
        await asyncio.gather(worker, return_exceptions=True)
        await asyncio.sleep(1.2)  # Slack posts it all the same
        assert row(cx, ALERT).status == "pending" and row(cx, ALERT).maybe_sent

        fresh = make_deliverer(cx.rt)
        assert fresh is not None
        assert await fresh.drain() == 0, "the dead worker's lease still holds"
        await fresh.drain(now=utcnow() + timedelta(minutes=2))
        assert top_level_keys(cx, "C0SUPPORT") == Counter({ALERT: 1})
        assert len(posts_of(cx, ALERT)) == 1, "found by the look-up, not posted again"
        assert row(cx, ALERT).sent_ref == cx.alert(1)["ts"]


async def test_a_worker_process_killed_mid_send_is_reconciled_without_a_duplicate(engine, db_url):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, detractor(1))
        cx.slack.fail_next("chat.postMessage", delay=1.0)
        env = cli_env(DATABASE_URL=db_url, SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                      SLACK_API_URL=cx.slack.api_url)
        env.pop("CXLOOP_CONFIG", None)
        proc = subprocess.Popen([sys.executable, "-m", "handlers.cli", "work"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            await asyncio.to_thread(lambda: _until(lambda: posts_of(cx, ALERT) or proc.poll() is not None, 60))
            assert proc.poll() is None, proc.communicate()[1]
            proc.send_signal(signal.SIGKILL)  # kill -9 while Slack is still answering the post
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        await asyncio.sleep(1.2)  # the post lands after its sender died
        assert row(cx, ALERT).maybe_sent and row(cx, ALERT).status == "pending"

        await cx.deliverer.drain(now=utcnow() + timedelta(minutes=2))  # after the dead worker's lease
        assert top_level_keys(cx, "C0SUPPORT") == Counter({ALERT: 1})
        assert len(posts_of(cx, ALERT)) == 1
        assert row(cx, ALERT).status == "sent"


def _until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


async def test_a_worker_whose_lease_ran_out_does_not_send_what_another_now_owns(engine, db_url):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, detractor(1))
        stalled = [r for r in _claim(engine, ["slack"], "stalled-worker", utcnow(), 10) if r.dedupe_key == ALERT]
        other = another_worker(cx, db_url)
        await other.drain(now=utcnow() + timedelta(minutes=2))  # the stalled worker's lease ran out
        assert row(cx, ALERT).status == "sent"
        # The stalled worker wakes up and carries on with the row it had claimed.
        stalled_worker = Deliverer(engine, list(cx.deliverer.ports.values()), me="stalled-worker")
        await stalled_worker._deliver_one(cx.deliverer.ports["slack"], stalled[0])
        assert len(posts_of(cx, ALERT)) == 1


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
        assert cx.slack.calls_to("conversations.history") == [], "never sent, so nothing to look for"


async def test_sends_share_kept_alive_connections_and_one_slack_closed_meanwhile_costs_nothing(engine):
    async with CxHarness(engine) as cx:
        for n in range(4):
            record_response(engine, cx.ws, detractor(n, touchpoint=("phone", "billing", "delivery", "chat")[n]))
        await drain_all(cx)
        posted = cx.slack.calls_to("chat.postMessage")
        assert len(posted) >= 4
        assert len(cx.slack.peers) < len(posted), "calls went over kept-alive connections, not one each"
        # Slack closes the idle connections (as its keep-alive timeout does) while the worker waits.
        assert cx.slack.hang_up() >= 1
        await asyncio.sleep(0.05)
        record_response(engine, cx.ws, detractor(9))
        await drain_all(cx)
        key = next(key_of(c.body) for c in cx.slack.calls_to("chat.postMessage")[len(posted):])
        assert key is not None and len(posts_of(cx, key)) == 1
        assert row(cx, key).status == "sent" and not row(cx, key).maybe_sent, \
            "the closed connection was not used: nothing was in doubt, nothing to look for"
        assert cx.slack.calls_to("conversations.history") == []


# --- one pace per target, shared by every worker ------------------------------------------------


def test_only_one_of_many_workers_gets_a_targets_turn(engine, db_url):
    """The turn is an atomic compare-and-set: ten workers asking at once, one gets it."""
    engines = [make_engine(db_url) for _ in range(10)]
    start = threading.Barrier(len(engines))
    waits: list[float] = []

    def ask(e) -> None:  # type: ignore[no-untyped-def]
        start.wait()
        with session_scope(e) as s:
            waits.append(pace.take_turn(s, "slack", "C0SUPPORT", 1.0).wait)

    threads = [threading.Thread(target=ask, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in engines:
        e.dispose()
    assert len(waits) == len(engines), "a worker failed to ask (its thread raised)"
    assert sum(1 for w in waits if w <= 0) == 1, waits
    assert all(0 < w <= 1.0 for w in waits if w > 0), "the others are told to wait at most one gap"


async def test_workers_on_one_database_together_post_at_most_once_a_second_per_channel(engine, db_url):
    async with CxHarness(engine, pacing=1.0, enforce_channel_rate=True) as cx:
        workers = [cx.deliverer, another_worker(cx, db_url, gap=1.0), another_worker(cx, db_url, gap=1.0)]
        for n in range(6):
            # A new alert for the same channel each time, delivered by the next replica along.
            record_response(engine, cx.ws, detractor(n))
            await workers[n % 3].drain()
        posts = [c for c in cx.slack.calls_to("chat.postMessage") if c.body["channel"] == "C0SUPPORT"]
        assert cx.slack.rejected_429 == 0, "no worker posted inside another's second"
        assert len(posts) == 6 and all(b.at - a.at >= 0.95 for a, b in zip(posts, posts[1:]))


def test_workers_claiming_at_the_same_instant_never_split_one_target(engine, db_url):
    for n in range(6):
        record_response(engine, load_workspace(), detractor(n))
    engines = [make_engine(db_url) for _ in range(8)]
    start = threading.Barrier(len(engines))
    holders: dict[str, list[str]] = {}

    def claim(i: int) -> None:
        start.wait()
        rows = _claim(engines[i], ["slack"], f"worker-{i}", utcnow(), 1)
        for r in rows:
            holders.setdefault(r.target, []).append(r.dedupe_key)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(engines))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in engines:
        e.dispose()
    assert holders["C0SUPPORT"] == [ALERT], "one worker has the channel, and its oldest message"


async def test_one_worker_at_a_time_delivers_to_a_target_so_its_messages_keep_their_order(engine, db_url):
    async with CxHarness(engine) as cx:
        for n in range(6):
            record_response(engine, cx.ws, detractor(n))
        workers = [cx.deliverer, another_worker(cx, db_url), another_worker(cx, db_url)]
        for w in workers:
            w.batch = 1
        await asyncio.gather(*(w.drain() for w in workers))
        posts = [c for c in cx.slack.calls_to("chat.postMessage") if c.body["channel"] == "C0SUPPORT"]
        assert [key_of(c.body) for c in posts] == [f"slack:case:{n}:alert" for n in range(1, 7)]


async def test_a_retry_after_is_waited_out_by_every_worker(engine, db_url):
    async with CxHarness(engine) as cx:
        for n in range(3):
            record_response(engine, cx.ws, detractor(n))
        cx.slack.fail_next("chat.postMessage", status=429, retry_after=3)
        await cx.deliverer.drain()
        limited = next(c for c in cx.slack.calls_to("chat.postMessage") if c.status == 429)
        row1 = row(cx, ALERT)
        assert "rate limited" in (row1.last_error or "") and not row1.maybe_sent
        # the row's own retry honours Retry-After, not a default back-off
        assert timedelta(seconds=2) < row1.next_attempt_at - utcnow() <= timedelta(seconds=4)
        with Session(engine) as s:
            held = s.exec(select(SendPace).where(SendPace.target == "C0SUPPORT")).one()
            assert held.held_until - pace.now_seconds(s) > 0.5, "the hold is in the database, for everyone"
        other = another_worker(cx, db_url)
        await deliver_until_settled(cx, other)
        posts = [c for c in cx.slack.calls_to("chat.postMessage") if c.body["channel"] == "C0SUPPORT"]
        assert all(c.at - limited.at >= 2.95 for c in posts if c is not limited), "nobody posted during the hold"
        assert set(top_level_keys(cx, "C0SUPPORT").values()) == {1} and len(top_level_keys(cx, "C0SUPPORT")) == 3


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


# --- order, parents and failures ---------------------------------------------------------------


async def test_replies_wait_for_their_parent_and_edits_collapse(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, detractor(1))
        cx.slack.fail_next("chat.postMessage", status=500)
        await cx.deliverer.drain()
        assert not cx.slack.messages("C0SUPPORT")
        # changes made while the alert is stuck: updates and thread notes queue behind it
        from bot.cases import service as cases
        from bot.cases.notify import publish_change
        from bot.people.roster import actor_for, member_by_slack
        with session_scope(engine) as s:
            alice = actor_for(s, member_by_slack(s, "U0ALICE"))
            ev = cases.take(s, alice, 1)
            publish_change(s, cx.ws, cases.get_case(s, 1), ev)
        with session_scope(engine) as s:
            alice = actor_for(s, member_by_slack(s, "U0ALICE"))
            from bot.cases.resolved import ResolvedStep
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


async def test_replies_to_a_message_that_failed_for_good_fail_too_instead_of_waiting_forever(engine):
    async with CxHarness(engine) as cx:
        cx.slack.add_channel("C0BILLING", name="billing")  # C0SUPPORT is unknown to the workspace
        record_response(engine, cx.ws, detractor(1))
        from bot.cases import service as cases
        from bot.cases.notify import publish_change
        from bot.people.roster import actor_for, member_by_slack
        with session_scope(engine) as s:
            ev = cases.take(s, actor_for(s, member_by_slack(s, "U0ALICE")), 1)
            publish_change(s, cx.ws, cases.get_case(s, 1), ev)
        await drain_all(cx)
        children = [o for o in cx.outbox() if o.thread_key == ALERT or o.anchor_key == ALERT]
        assert children and all(o.status == "failed" for o in children)
        assert all("was never delivered" in (o.last_error or "") for o in children)


async def test_an_unknown_channel_fails_that_message_only(engine):
    async with CxHarness(engine) as cx:
        cx.slack.add_channel("C0BILLING", name="billing")  # C0SUPPORT now unknown to the workspace
        record_response(engine, cx.ws, detractor(1))
        record_response(engine, cx.ws, detractor(2, touchpoint="refund"))
        await drain_all(cx)
        by_target = {o.target: o for o in cx.outbox() if o.action == "post"}
        assert by_target["C0SUPPORT"].status == "failed" and "channel_not_found" in by_target["C0SUPPORT"].last_error
        assert not by_target["C0SUPPORT"].maybe_sent, "Slack refused it: nothing to look for"
        assert by_target["C0BILLING"].status == "sent"
