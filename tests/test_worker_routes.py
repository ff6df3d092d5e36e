"""How the worker runs what the inbox stored, and what reports do with SQLite's write lock.

- Stored clicks and `/cx` are handled without a second pass through Bolt (handlers/slack/direct.py):
  the same listener functions, and a listener that fails is noted on the item, not run again.
- Commands that only read (`/cx mine`) run without SQLite's write lock (`Runtime.reading`), so they
  never wait for, nor hold up, the acknowledgements the server writes; one that writes after all
  runs again as a writer when SQLite refuses its write.
"""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine, create_engine, func
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from bot.chat.messages import Actions, Button, Message
from bot.console import registry
from bot.intake.store import record_response
from bot.intake.surveys import build_response
from bot.machinery.runtime import Runtime
from handlers.slack import render
from storage.models import Case, CaseEvent, InboxItem, Member
from tests.conftest import TEST_NOW
from tests.harness import CxHarness

_serial = itertools.count(1)


def _case(cx: CxHarness) -> int:
    r = build_response({"source": "generic", "external_id": f"route-{next(_serial)}", "survey": "nps", "score": 2,
                        "comment": "Nobody called back.", "customer_name": "Dana Reyes", "touchpoint": "phone",
                        "responded_at": (TEST_NOW - timedelta(hours=1)).isoformat()})
    cid = record_response(cx.engine, cx.ws, r, now=TEST_NOW - timedelta(hours=1)).case_id
    assert cid is not None
    return cid


def _button(action: str, cid: int, ts: str) -> dict:
    msg = Message(text="x", blocks=[Actions(elements=[Button(action=action, label="Go", value={"case": cid})])])
    return {**render.message(msg), "ts": ts}


def _items(engine: Engine) -> list[InboxItem]:
    with Session(engine) as s:
        return list(s.exec(select(InboxItem).order_by(InboxItem.id)).all())


async def test_a_stored_click_is_handled_by_the_same_listener_and_one_that_fails_is_noted_not_run_again(engine):
    async with CxHarness(engine) as cx:
        cid = _case(cx)
        await cx.deliver()
        await cx.click("U0ALICE", cx.alert(cid), "case_take")
        with Session(engine) as s:
            owner = s.exec(select(Member.slack_user_id).join(Case, Case.owner_id == Member.id)
                           .where(Case.id == cid)).one()
        assert owner == "U0ALICE"
        # Snoozing opens a dialog; Slack refuses to open it (the trigger expired): the listener fails.
        cx.slack.fail_next("views.open", error="expired_trigger_id")
        await cx.click("U0ALICE", _button("case_snooze", cid, cx.alert(cid)["ts"]), "case_snooze")
        await cx.deliver()
        items = _items(engine)
        assert [i.status for i in items] == ["done", "done"]
        assert items[0].last_error is None
        assert "expired_trigger_id" in (items[1].last_error or ""), items[1].last_error
        # Noted once, not tried again: a listener that failed may have done its work already.
        assert items[1].attempts == 1
        assert len(cx.slack.calls_to("views.open")) == 1
        # A refusal is an answer, not a failure: the same person taking it again is told why.
        await cx.click("U0ALICE", _button("case_take", cid, cx.alert(cid)["ts"]), "case_take")
        assert "already own" in cx.ephemerals_for("U0ALICE")[-1]
        assert _items(engine)[-1].last_error is None


async def test_a_stored_click_whose_transaction_the_database_failed_is_tried_again_and_done_once(engine):
    async with CxHarness(engine) as cx:
        cid = _case(cx)
        await cx.deliver()
        real, tries = cx.rt.transaction, []

        def database_down_once(fn):  # type: ignore[no-untyped-def]
            tries.append(fn)
            if len(tries) == 1:
                raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is unreachable"))
            return real(fn)

        cx.rt.transaction = database_down_once  # type: ignore[method-assign]
        await cx.click("U0ALICE", cx.alert(cid), "case_take")
        [item] = _items(engine)
        assert (item.status, item.attempts) == ("pending", 1) and "unreachable" in (item.last_error or "")
        with Session(engine) as s:
            assert s.get(Case, cid).owner_id is None  # type: ignore[union-attr]
        cx.clock.now += timedelta(minutes=1)  # past the back-off
        await cx.services.inbox_worker.drain()
        await cx.deliver()
        [item] = _items(engine)
        assert (item.status, item.attempts, item.last_error) == ("done", 2, None)
        with Session(engine) as s:
            owner = s.exec(select(Member.slack_user_id).join(Case, Case.owner_id == Member.id)
                           .where(Case.id == cid)).one()
            taken = s.exec(select(func.count()).select_from(CaseEvent)
                           .where(CaseEvent.case_id == cid, CaseEvent.kind == "taken")).one()
        assert (owner, taken) == ("U0ALICE", 1)


async def test_a_command_that_only_reads_is_answered_by_the_worker_like_any_other(engine):
    async with CxHarness(engine) as cx:
        cid = _case(cx)
        await cx.deliver()
        await cx.click("U0ALICE", cx.alert(cid), "case_take")
        mine = await cx.command("U0ALICE", "mine")
        assert f"#{cid}" in mine.text
        # Someone cxloop has never seen: added on first sight, in the reading transaction.
        fresh = await cx.command("U0NEWCOMER", "help")
        assert "cxloop commands" in fresh.text
        with Session(engine) as s:
            assert s.exec(select(func.count()).select_from(Member)
                          .where(Member.slack_user_id == "U0NEWCOMER")).one() == 1


def test_which_commands_only_read():
    assert registry.reads_only("mine") and registry.reads_only("  HELP ") and registry.reads_only("case 42")
    assert registry.reads_only("") and registry.reads_only("no-such-command")
    assert not registry.reads_only("assign 4 <@U0BOB>") and not registry.reads_only("kudos <@U0BOB> thanks")


def _runtime(engine: Engine) -> Runtime:
    from bot.config import Settings, load_workspace

    return Runtime(engine=engine, workspace=load_workspace(), settings=Settings(database_url=str(engine.url)))


def _sqlite_only(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL has no database-wide write lock")


def test_a_report_is_read_while_another_writer_holds_the_write_lock(engine):
    _sqlite_only(engine)
    rt = _runtime(engine)
    rt.reading(lambda s: s.exec(select(1)).one())  # as in a running server: the database in WAL mode, a connection pooled
    other = create_engine(engine.url, connect_args={"timeout": 60, "check_same_thread": False})
    holding, read_done = threading.Event(), threading.Event()
    outcome: dict[str, bool] = {}

    def hold_the_lock() -> None:
        with other.connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            holding.set()
            # Held until the report is read; a report that waited for the lock would wait 30 s and fail.
            outcome["report first"] = read_done.wait(timeout=60)
            conn.exec_driver_sql("ROLLBACK")

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert holding.wait(timeout=30)
        count = rt.reading(lambda s: s.exec(select(func.count()).select_from(Case)).one())
        read_done.set()
    finally:
        read_done.set()
        holder.join()
        other.dispose()
    assert count == 0
    assert outcome["report first"]


def test_a_reading_run_that_writes_after_another_writer_committed_runs_again_as_a_writer(engine):
    rt = _runtime(engine)
    other = create_engine(engine.url)
    runs: list[int] = []

    def report(s: Session) -> int:
        runs.append(1)
        seen = s.exec(select(func.count()).select_from(Member)).one()
        if len(runs) == 1:
            # Another writer commits after this run began reading ...
            with other.begin() as conn:
                conn.execute(Member.__table__.insert().values(slack_user_id="U0OTHER", role="agent",
                                                              created_at=TEST_NOW))
        # ... and then this run adds someone it sees for the first time.
        s.add(Member(slack_user_id="U0FIRSTSIGHT", role="agent"))
        s.flush()
        return seen

    try:
        rt.reading(report)
    finally:
        other.dispose()
    with Session(engine) as s:
        ids = s.exec(select(Member.slack_user_id)).all()
    assert sorted(i for i in ids if i in ("U0OTHER", "U0FIRSTSIGHT")) == ["U0FIRSTSIGHT", "U0OTHER"]
    # SQLite refuses the write on the old snapshot: the run is made again, as a writer, and kept once.
    # PostgreSQL lets the write through on the first run.
    assert len(runs) == (2 if engine.dialect.name == "sqlite" else 1)
