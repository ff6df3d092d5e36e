"""Reminders, overdue notices, escalations and unclaimed prompts, with a controlled clock."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import Session, select

from bot.cases import service as cases
from bot.cases.notify import publish_change
from bot.intake.store import record_response
from bot.intake.surveys import build_response
from bot.people.roster import actor_for, member_by_slack
from handlers.jobs import run_due
from storage.db import session_scope
from storage.models import CaseNudge, OutboxMessage
from tests.conftest import cli_env
from tests.harness import CxHarness, text_of

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)  # Monday noon (London = UTC in November)
H = timedelta(hours=1)


def open_case(engine, ws, ext="r-1", touchpoint="phone", owner: str | None = "U0ALICE", at=T0) -> int:
    r = build_response({"source": "generic", "external_id": ext, "survey": "nps", "score": 2, "comment": "late",
                        "touchpoint": touchpoint, "responded_at": at.isoformat()})
    cid = record_response(engine, ws, r, now=at).case_id
    if owner:
        with session_scope(engine) as s:
            actor = actor_for(s, member_by_slack(s, owner))
            ev = cases.take(s, actor, cid, now=at)
            publish_change(s, ws, cases.get_case(s, cid), ev)
    return cid


@pytest.fixture(autouse=True)
def _start_at_t0(process_clock) -> None:
    process_clock.now = T0


async def tick(cx: CxHarness, at: datetime) -> dict:
    """`run-due` at `at`, with the clock moved there first, then delivery of what is due by then."""
    cx.clock.now = at
    summary = await run_due(cx.engine, cx.ws, cx.settings, at=at, deliverer=cx.deliverer)
    await cx.deliverer.drain(now=at)
    return summary


def dms_to(cx: CxHarness, user: str) -> list[str]:
    channel = cx.slack._conversations.get(user)  # the DM channel the stand-in opened for that user
    return [text_of(c.body) for c in cx.slack.calls_to("chat.postMessage") if channel and c.body["channel"] == channel]


async def test_reminder_overdue_and_escalation_each_once(engine):
    async with CxHarness(engine) as cx:
        cid = open_case(engine, cx.ws)
        await tick(cx, T0)
        base = len(dms_to(cx, "U0ALICE"))  # the ownership DM
        await tick(cx, T0 + 21 * H)
        assert len(dms_to(cx, "U0ALICE")) == base
        await tick(cx, T0 + 22 * H)  # respond due at +24h, reminder 2h before
        alice = dms_to(cx, "U0ALICE")
        assert len(alice) == base + 1 and "first response to the customer due soon" in alice[-1]
        assert "case_step" in alice[-1] and "case_snooze" in alice[-1]
        await tick(cx, T0 + 22 * H + 5 * 60 * timedelta(seconds=1))
        assert len(dms_to(cx, "U0ALICE")) == base + 1  # not twice
        await tick(cx, T0 + 24 * H)
        alice = dms_to(cx, "U0ALICE")
        assert len(alice) == base + 2 and "is overdue" in alice[-1]
        assert not dms_to(cx, "U0MANAGER")
        await tick(cx, T0 + 28 * H)  # escalate 4h after the due time
        manager = dms_to(cx, "U0MANAGER")
        assert len(manager) == 1 and "still overdue" in manager[0] and "<@U0ALICE>" in manager[0]
        assert any("Escalated" in text_of(m) for m in cx.thread(cid))
        for _ in range(3):
            await tick(cx, T0 + 30 * H)
        assert len(dms_to(cx, "U0MANAGER")) == 1 and len(dms_to(cx, "U0ALICE")) == base + 2
        kinds = sorted(n.kind for n in Session(engine).exec(select(CaseNudge)))
        assert kinds == ["respond_escalated", "respond_overdue", "respond_soon"]


async def test_responding_stops_the_respond_nudges(engine):
    async with CxHarness(engine) as cx:
        cid = open_case(engine, cx.ws)
        with session_scope(engine) as s:
            from bot.cases.resolved import ResolvedStep
            cases.tick_step(s, actor_for(s, member_by_slack(s, "U0ALICE")), cid, ResolvedStep.RESPOND, now=T0 + H)
        await tick(cx, T0 + 30 * H)
        assert not [n for n in Session(engine).exec(select(CaseNudge)) if n.kind.startswith("respond")]


async def test_nudges_wait_for_the_owners_working_hours(engine):
    async with CxHarness(engine) as cx:
        open_case(engine, cx.ws, owner="U0BOB")  # Bob works in New York
        await tick(cx, T0)
        base = len(dms_to(cx, "U0BOB"))
        await tick(cx, T0 + 22 * H)  # Tuesday 10:00 UTC = 05:00 in New York
        # Bob won't be at work before the 12:00 UTC due time: no "due soon" reminder at all
        assert len(dms_to(cx, "U0BOB")) == base
        assert not [o for o in cx.outbox() if "respond_soon" in o.dedupe_key]
        await tick(cx, T0 + 24 * H)  # overdue at 07:00 New York: held for his morning
        held = [o for o in cx.outbox() if "respond_overdue" in o.dedupe_key]
        assert len(held) == 1 and held[0].status == "pending"
        assert held[0].next_attempt_at == datetime(2026, 11, 24, 14, 0, tzinfo=timezone.utc)  # 09:00 New York
        assert len(dms_to(cx, "U0BOB")) == base
        await tick(cx, datetime(2026, 11, 24, 13, 59, tzinfo=timezone.utc))
        assert len(dms_to(cx, "U0BOB")) == base
        await tick(cx, datetime(2026, 11, 24, 14, 0, tzinfo=timezone.utc))
        bob = dms_to(cx, "U0BOB")
        assert len(bob) == base + 1 and "is overdue" in bob[-1]


async def test_snooze_holds_reminders_within_bounds(engine):
    async with CxHarness(engine) as cx:
        cid = open_case(engine, cx.ws)
        with session_scope(engine) as s:
            alice = actor_for(s, member_by_slack(s, "U0ALICE"))
            try:
                cases.snooze(s, alice, cid, until=T0 + 5 * 24 * H, reason="waiting on courier",
                             max_snooze=timedelta(days=3), now=T0)
                raise AssertionError("an unbounded snooze was accepted")
            except cases.BadInput as exc:
                assert "at most 3d" in str(exc)
            cases.snooze(s, alice, cid, until=T0 + 30 * H, reason="customer on holiday until Tuesday",
                         max_snooze=timedelta(days=3), now=T0)
        await tick(cx, T0)
        base = len(dms_to(cx, "U0ALICE"))
        await tick(cx, T0 + 24 * H)
        await tick(cx, T0 + 29 * H)
        assert len(dms_to(cx, "U0ALICE")) == base and not dms_to(cx, "U0MANAGER")
        await tick(cx, T0 + 30 * H)  # snooze over at 18:00 London: after hours, so held for the morning
        held = [o for o in cx.outbox() if "respond_overdue" in o.dedupe_key]
        assert len(held) == 1 and held[0].next_attempt_at == datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
        await tick(cx, T0 + 45 * H)  # Wednesday 09:00
        assert "is overdue" in dms_to(cx, "U0ALICE")[-1]


async def test_snooze_through_slack_needs_a_reason(engine):
    async with CxHarness(engine) as cx:
        open_case(engine, cx.ws, at=cx.clock.now)
        await tick(cx, cx.clock.now)
        alice_dm = [c.body for c in cx.slack.calls_to("chat.postMessage") if c.body["channel"].startswith("D")][-1]
        await cx.click("U0ALICE", alice_dm, "case_snooze", channel=alice_dm["channel"])
        modal = cx.last_modal()
        assert "reason" in (await cx.submit("U0ALICE", modal, {"for": "4h", "reason": ""})).json()["errors"]
        assert (await cx.submit("U0ALICE", modal, {"for": "4h", "reason": "Customer asked to talk tomorrow"})).status == 200
        await cx.deliver()
        assert any("snoozed the reminders until" in text_of(m) for m in cx.thread(1))


async def test_unclaimed_alert_prompts_the_channel_after_an_hour(engine):
    async with CxHarness(engine) as cx:
        cid = open_case(engine, cx.ws, owner=None)
        await tick(cx, T0 + 59 * timedelta(minutes=1))
        assert not any("needs an owner" in c.body.get("text", "") for c in cx.slack.calls_to("chat.postMessage"))
        await tick(cx, T0 + H)
        await tick(cx, T0 + 2 * H)
        prompts = [c.body for c in cx.slack.calls_to("chat.postMessage") if "needs an owner" in c.body.get("text", "")]
        assert len(prompts) == 1
        assert prompts[0]["channel"] == "C0SUPPORT" and prompts[0]["reply_broadcast"] is True
        assert prompts[0]["thread_ts"] == cx.alert(cid)["ts"]


async def test_one_failing_case_does_not_stop_the_others(engine, monkeypatch):
    async with CxHarness(engine) as cx:
        open_case(engine, cx.ws, ext="r-1")
        open_case(engine, cx.ws, ext="r-2")
        import bot.nudges.messages as nm

        real = nm.owner_nudge

        def flaky(view, *a, **k):
            if view.case.id == 1:
                raise RuntimeError("boom")
            return real(view, *a, **k)

        monkeypatch.setattr(nm, "owner_nudge", flaky)
        summary = await tick(cx, T0 + 22 * H)
        assert summary["queued"]["nudges"] == 1
        assert [n.case_id for n in Session(engine).exec(select(CaseNudge))] == [2]


async def test_a_database_error_in_one_case_leaves_the_rest_of_its_batch_sent(engine, monkeypatch):
    """A batch whose insert fails is retried case by case: the bad case stays unclaimed (and is
    tried again next run), the others in its batch are claimed and sent once."""
    async with CxHarness(engine) as cx:
        for n in range(3):
            open_case(cx.engine, cx.ws, ext=f"r-{n}")
        from sqlalchemy.exc import IntegrityError

        import bot.nudges.jobs as nudges

        real = nudges.enqueue_many

        def failing(session, items):
            if any(q.case_id == 1 for q in items):
                raise IntegrityError("INSERT INTO outbox", {}, Exception("value too long for dedupe_key"))
            return real(session, items)

        monkeypatch.setattr(nudges, "enqueue_many", failing)
        first = await tick(cx, T0 + 22 * H)
        assert first["queued"]["nudges"] == 2
        with Session(engine) as s:
            assert sorted(n.case_id for n in s.exec(select(CaseNudge))) == [2, 3]
        assert sum("due soon" in t for t in dms_to(cx, "U0ALICE")) == 2

        monkeypatch.setattr(nudges, "enqueue_many", real)
        again = await tick(cx, T0 + 22 * H + timedelta(minutes=1))
        assert again["queued"]["nudges"] == 1
        with Session(engine) as s:
            assert sorted(n.case_id for n in s.exec(select(CaseNudge))) == [1, 2, 3]
        assert sum("due soon" in t for t in dms_to(cx, "U0ALICE")) == 3


def test_two_processes_at_once_send_each_nudge_once(engine, db_url, tmp_path):
    from bot.config import load_workspace

    ws = load_workspace()
    from bot.people.roster import sync_workspace

    with session_scope(engine) as s:
        sync_workspace(s, ws)
    for n in range(40):
        open_case(engine, ws, ext=f"r-{n}", owner=["U0ALICE", "U0BOB", "U0CARLOS"][n % 3])
    env = cli_env(DATABASE_URL=db_url)
    for k in ("SLACK_BOT_TOKEN", "CXLOOP_CONFIG"):
        env.pop(k, None)
    at = (T0 + 30 * H).isoformat()
    procs = [subprocess.Popen([sys.executable, "-m", "handlers.cli", "run-due", "--at", at], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    with Session(engine) as s:
        nudges = list(s.exec(select(CaseNudge)))
        keys = [o.dedupe_key for o in s.exec(select(OutboxMessage)) if "_overdue" in o.dedupe_key
                or "_escalated" in o.dedupe_key]
    # every case: one overdue notice to its owner, one escalation per manager; no duplicates anywhere
    assert len(nudges) == 40 * 2
    assert len(keys) == len(set(keys)) == 40 * 2
