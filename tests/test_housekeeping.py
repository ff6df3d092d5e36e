"""Housekeeping: finished work records are pruned after the retention; nothing in flight is touched."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from bot.chat.messages import Message
from bot.config import ConfigError, Settings, load_workspace, parse_workspace
from bot.intake.store import record_response
from bot.intake.surveys import build_response
from bot.machinery import inbox
from bot.machinery.queueing import enqueue
from handlers.jobs import run_due
from storage.db import session_scope
from storage.models_privacy import CustomerMessage
from storage.models import Case, InboxItem, OutboxMessage, ProcessedEvent
from storage.types import utcnow
from tests.conftest import TEST_NOW, cli_env
from tests.harness import CxHarness

KEEP = timedelta(days=14)


def detractor(ext: str):  # type: ignore[no-untyped-def]
    return build_response({"source": "generic", "external_id": ext, "survey": "nps", "score": 2,
                           "comment": f"complaint {ext}", "touchpoint": "phone", "responded_at": "2026-11-20T10:15:00Z"})


def count(engine, model) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


async def test_work_records_stay_bounded_over_a_simulated_month(engine):
    async with CxHarness(engine) as cx:
        start = cx.clock.now
        with session_scope(engine) as s:
            # In flight all month: a reply held until day 40, and the post it replies to.
            enqueue(s, key="slack:test:parent", platform="slack", action="post", target="C0SUPPORT",
                    message=Message(text="a post something still replies to"))
            enqueue(s, key="slack:test:reply", platform="slack", action="post", target="C0SUPPORT",
                    message=Message(text="a reply held for later"), thread_key="slack:test:parent",
                    not_before=start + timedelta(days=40))
        pruned_total: dict[str, int] = {}
        for day in range(31):
            cx.clock.now = start + timedelta(days=day)
            for i in range(3):
                record_response(engine, cx.ws, detractor(f"r-{day}-{i}"), event_id=f"ev-{day}-{i}")
            await cx.deliver()
            with Session(engine) as s:
                newest = s.exec(select(func.max(Case.id))).one()
            await cx.click("U0ALICE", cx.alert(newest), "case_take")  # an inbox item, an edit, a note, a DM
            await cx.deliver()
            summary = await run_due(engine, cx.ws, cx.settings, at=cx.clock.now, deliverer=cx.deliverer)
            for table, n in summary["pruned"].items():
                pruned_total[table] = pruned_total.get(table, 0) + n

        now = cx.clock.now
        cutoff = now - KEEP
        with Session(engine) as s:
            items = list(s.exec(select(InboxItem)))
            events = list(s.exec(select(ProcessedEvent)))
            rows = list(s.exec(select(OutboxMessage)))
            cases = {c.id: c for c in s.exec(select(Case))}
        # Inbox items and event ids: only the last 14 days are left (15 days' worth, the cut-off's own day included).
        assert items and all(i.done_at >= cutoff for i in items) and len(items) == 15
        assert all(e.at >= cutoff for e in events) and len(events) == 15 * 3
        # Outbox: what is older than that is only what is still needed.
        old = [o for o in rows if (o.sent_at or o.next_attempt_at) < cutoff]
        anchors = {f"slack:case:{c.id}:alert" for c in cases.values()} | {f"slack:{c.dm_key}" for c in cases.values()
                                                                          if c.dm_key}
        with Session(engine) as s:
            kept_for_erasure = set(s.exec(select(CustomerMessage.outbox_id)))
        quoting = {o.dedupe_key for o in old if o.id in kept_for_erasure}
        # The digest and the weekly huddles quote customers' comments.
        assert quoting == {"slack:digest:support:2026-11-16", "slack:huddle:support:2026-11-23",
                           "slack:huddle:support:2026-11-30", "slack:huddle:support:2026-12-07"}, \
            "a message quoting customers stays, to be edited on erasure"
        assert {o.dedupe_key for o in old} - anchors - quoting == {"slack:test:parent"}, "the parent of a pending reply stays"
        assert next(o for o in rows if o.dedupe_key == "slack:test:reply").status == "pending"
        assert len(old) <= 2 * len(cases) + 1 + len(quoting), \
            "of older messages, at most each case's alert and owner DM, and those quoting customers, stay"
        with Session(engine) as s:
            queued_ever = s.exec(select(func.max(OutboxMessage.id))).one()
        assert pruned_total["outbox"] == queued_ever - len(rows) > 200, "run-due reports what it deleted"
        assert pruned_total["inbox"] == 31 - 15 and pruned_total["processed_event"] == (31 - 15) * 3

        # A month-old case can still change: its alert is edited in place, its thread gets the note.
        day0_alert = cx.alert(2)
        cx.slack.clear()
        await cx.click("U0BOB", day0_alert, "case_take")
        await cx.deliver()
        [edit] = cx.slack.calls_to("chat.update")
        assert edit.body["ts"] == day0_alert["ts"] and "<@U0BOB>" in json.dumps(edit.body["blocks"])
        assert any(m.get("thread_ts") == day0_alert["ts"] for m in cx.slack.messages("C0SUPPORT")
                   if m["ts"] != day0_alert["ts"])
        assert not [o for o in cx.outbox() if o.status == "failed"]


def test_run_due_prunes_only_what_is_older_than_the_retention(db_url, engine):
    record_response(engine, load_workspace(), detractor("r-1"), event_id="ev-1")  # no chat configured: stays queued
    item = inbox.put(engine, platform="slack", kind="command", body="{}", content_type="application/json")
    [claimed] = inbox.claim(engine, "worker")
    assert claimed.id == item
    inbox.finish(engine, claimed, "worker")
    queued = count(engine, OutboxMessage)

    def run_due_at(days: int) -> dict:
        env = cli_env(DATABASE_URL=db_url, CXLOOP_NOW=(TEST_NOW + timedelta(days=days)).isoformat())
        for k in ("SLACK_BOT_TOKEN", "CXLOOP_CONFIG"):
            env.pop(k, None)
        run = subprocess.run([sys.executable, "-m", "handlers.cli", "run-due"], capture_output=True, text=True,
                             env=env, timeout=120)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)["pruned"]

    assert run_due_at(13) == {"inbox": 0, "outbox": 0, "processed_event": 0, "send_pace": 0}
    assert run_due_at(15) == {"inbox": 1, "outbox": 0, "processed_event": 1, "send_pace": 0}
    assert count(engine, InboxItem) == count(engine, ProcessedEvent) == 0
    assert count(engine, OutboxMessage) >= queued, "undelivered messages are never pruned, however old"


async def test_a_future_at_does_not_prune_what_is_recent_today(engine):
    inbox.put(engine, platform="slack", kind="command", body="{}", content_type="application/json")
    [claimed] = inbox.claim(engine, "worker")
    inbox.finish(engine, claimed, "worker")
    summary = await run_due(engine, load_workspace(), Settings(slack_bot_token=None),
                            at=utcnow() + timedelta(days=60))
    assert summary["pruned"]["inbox"] == 0 and count(engine, InboxItem) == 1


@pytest.mark.parametrize("value, problem", [
    ("a fortnight", "retention.delivery: 'a fortnight' is not a duration such as 90m, 8h or 5d"),
    ("2h", "retention.delivery: 2h is too short; keep delivery records at least 1d"),
])
def test_a_retention_that_is_not_a_sensible_duration_is_refused_naming_the_key(value, problem):
    data = load_workspace().model_dump(mode="json")
    with pytest.raises(ConfigError, match=problem):
        parse_workspace({**data, "retention": {"delivery": value}})
    assert parse_workspace({**data, "retention": {"delivery": "30d"}}).retention.delivery == timedelta(days=30)
