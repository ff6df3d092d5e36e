"""The case rules, in the core, without a chat platform: steps in order, what each step needs,
closing the loop, reopening, snoozing, and the reasons each change asks for."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import Session, select

from bot.cases import service as cases
from bot.cases.resolved import STEPS, CaseStatus, ResolvedStep
from bot.config import load_workspace
from bot.errors import BadInput, InvalidState
from bot.intake.store import record_response
from bot.intake.surveys import build_response
from bot.people.roster import actor_for, member_by_slack, sync_workspace
from storage.db import session_scope
from storage.models import Case, CaseEvent, CaseStep

OPENED = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
WS = load_workspace()


@pytest.fixture
def case_id(engine, process_clock) -> int:
    process_clock.now = OPENED
    with session_scope(engine) as s:
        sync_workspace(s, WS)
    r = build_response({"source": "generic", "external_id": "r-1", "survey": "nps", "score": 1, "comment": "late",
                        "touchpoint": "phone", "responded_at": OPENED.isoformat()})
    cid = record_response(engine, WS, r, now=OPENED).case_id
    with session_scope(engine) as s:
        cases.take(s, alice(s), cid, now=OPENED)
    return cid


def alice(s: Session):  # type: ignore[no-untyped-def]
    return actor_for(s, member_by_slack(s, "U0ALICE"))


def tick(engine, cid: int, step: ResolvedStep, at: datetime = OPENED, **kw) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        cases.tick_step(s, alice(s), cid, step, now=at, **kw)


def tick_all(engine, cid: int) -> None:  # type: ignore[no-untyped-def]
    for step in STEPS:
        tick(engine, cid, step, note="root cause: courier" if step is ResolvedStep.DOCUMENT else None,
             customer_agreed=True if step is ResolvedStep.VERIFY else None,
             root_cause="processes" if step is ResolvedStep.DOCUMENT else None)


def case(engine, cid: int) -> Case:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        c = s.get(Case, cid)
        assert c is not None
        return c


def steps_done(engine, cid: int) -> list[str]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return [st.step for st in s.exec(select(CaseStep).where(CaseStep.case_id == cid).order_by(CaseStep.id))]


def test_steps_go_in_order_and_say_which_one_comes_first(engine, case_id):
    with pytest.raises(InvalidState, match="Do step 1, “Respond"):
        tick(engine, case_id, ResolvedStep.EMPATHIZE)
    tick(engine, case_id, ResolvedStep.RESPOND)
    with pytest.raises(InvalidState, match="already done"):
        tick(engine, case_id, ResolvedStep.RESPOND)
    assert steps_done(engine, case_id) == ["respond"]


def test_the_first_response_time_is_the_respond_step(engine, case_id):
    tick(engine, case_id, ResolvedStep.RESPOND, at=OPENED + timedelta(hours=2))
    assert case(engine, case_id).first_response_at == OPENED + timedelta(hours=2)


def test_verify_needs_the_customers_agreement(engine, case_id):
    for step in STEPS[:5]:
        tick(engine, case_id, step)
    for agreed in (None, False):
        with pytest.raises(BadInput, match="customer's agreement") as err:
            tick(engine, case_id, ResolvedStep.VERIFY, customer_agreed=agreed)
        assert err.value.field == "customer_agreed"
    tick(engine, case_id, ResolvedStep.VERIFY, customer_agreed=True)
    assert steps_done(engine, case_id)[-1] == "verify"


def test_document_needs_a_known_root_cause_and_a_note(engine, case_id):
    for step in STEPS[:7]:
        tick(engine, case_id, step, customer_agreed=True if step is ResolvedStep.VERIFY else None)
    with pytest.raises(BadInput, match="root-cause area") as err:
        tick(engine, case_id, ResolvedStep.DOCUMENT, note="why")
    assert err.value.field == "root_cause"
    with pytest.raises(BadInput, match="is not a root-cause area"):
        tick(engine, case_id, ResolvedStep.DOCUMENT, root_cause="weather", note="why")
    with pytest.raises(BadInput, match="is required") as err:
        tick(engine, case_id, ResolvedStep.DOCUMENT, root_cause="processes", note="   ")
    assert err.value.field == "note"
    with pytest.raises(BadInput, match="too long"):
        tick(engine, case_id, ResolvedStep.DOCUMENT, root_cause="processes", note="x" * (cases.MAX_NOTE + 1))
    assert case(engine, case_id).status == CaseStatus.IN_PROGRESS.value


def test_the_eighth_step_resolves_the_case_with_its_root_cause(engine, case_id):
    tick_all(engine, case_id)
    c = case(engine, case_id)
    assert c.status == CaseStatus.RESOLVED.value and c.resolved_at == OPENED and c.root_cause == "processes"


def test_the_loop_closes_only_after_the_steps_and_never_in_the_future_or_before_the_case(engine, case_id):
    with session_scope(engine) as s:
        with pytest.raises(InvalidState, match="still has 8 RESOLVED step"):
            cases.close_loop(s, alice(s), case_id, how="phone", now=OPENED)
    tick_all(engine, case_id)
    now = OPENED + timedelta(hours=3)
    with session_scope(engine) as s:
        with pytest.raises(BadInput, match="not a way of reaching") as err:
            cases.close_loop(s, alice(s), case_id, how="pigeon", now=now)
        assert err.value.field == "how"
        with pytest.raises(BadInput, match="in the future"):
            cases.close_loop(s, alice(s), case_id, how="phone", when=now + timedelta(minutes=6), now=now)
        with pytest.raises(BadInput, match="before the case was opened"):
            cases.close_loop(s, alice(s), case_id, how="phone", when=OPENED - timedelta(minutes=6), now=now)
    # a few minutes of clock difference either way is accepted
    with session_scope(engine) as s:
        cases.close_loop(s, alice(s), case_id, how="phone", when=now + timedelta(minutes=4), now=now)
    c = case(engine, case_id)
    assert c.status == CaseStatus.CLOSED.value and c.loop_closed_at == now + timedelta(minutes=4)
    assert c.loop_closed_how == "phone" and c.closed_at == now


def test_reopening_needs_a_reason_and_starts_a_new_round_of_steps(engine, case_id):
    tick_all(engine, case_id)
    first_round = case(engine, case_id).round
    with session_scope(engine) as s:
        cases.close_loop(s, alice(s), case_id, how="email", now=OPENED)
    with session_scope(engine) as s:
        with pytest.raises(BadInput, match="reason is required"):
            cases.reopen(s, alice(s), case_id, reason=" ", now=OPENED)
    with session_scope(engine) as s:
        cases.reopen(s, alice(s), case_id, reason="she wrote again", now=OPENED + timedelta(days=1))
    c = case(engine, case_id)
    assert (c.status, c.round, c.loop_closed_at, c.resolved_at) == (CaseStatus.IN_PROGRESS.value, first_round + 1,
                                                                    None, None)
    with session_scope(engine) as s:
        assert cases.load_view(s, WS, case_id).next_step is ResolvedStep.RESPOND
        with pytest.raises(InvalidState, match="still open"):
            cases.reopen(s, alice(s), case_id, reason="again", now=OPENED)


def test_a_closed_case_takes_no_more_steps_or_snoozes(engine, case_id):
    with session_scope(engine) as s:
        cases.dismiss(s, alice(s), case_id, reason="spam", now=OPENED)
    with pytest.raises(InvalidState, match="reopen it before you tick steps"):
        tick(engine, case_id, ResolvedStep.RESPOND)
    with session_scope(engine) as s:
        with pytest.raises(InvalidState, match="reopen it before you snooze it"):
            cases.snooze(s, alice(s), case_id, until=OPENED + timedelta(hours=1), reason="x",
                         max_snooze=timedelta(days=3), now=OPENED)


def test_a_snooze_is_in_the_future_within_its_limit_and_says_why(engine, case_id):
    limit = timedelta(days=3)
    with session_scope(engine) as s:
        a = alice(s)
        with pytest.raises(BadInput, match="in the future"):
            cases.snooze(s, a, case_id, until=OPENED, reason="x", max_snooze=limit, now=OPENED)
        with pytest.raises(BadInput, match="at most 3d"):
            cases.snooze(s, a, case_id, until=OPENED + limit + timedelta(minutes=1), reason="x", max_snooze=limit,
                         now=OPENED)
        with pytest.raises(BadInput, match="reason is required"):
            cases.snooze(s, a, case_id, until=OPENED + timedelta(hours=1), reason="", max_snooze=limit, now=OPENED)
        cases.snooze(s, a, case_id, until=OPENED + limit, reason="customer away", max_snooze=limit, now=OPENED)
    assert case(engine, case_id).snoozed_until == OPENED + limit


def test_every_change_is_recorded_with_who_and_when(engine, case_id):
    tick(engine, case_id, ResolvedStep.RESPOND, at=OPENED + timedelta(minutes=5), note="called")
    with Session(engine) as s:
        events = [(e.kind, e.actor_id is not None, e.at) for e in
                  s.exec(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id))]
    assert [k for k, _, _ in events] == ["opened", "taken", "step"]
    assert events[-1][1:] == (True, OPENED + timedelta(minutes=5))
    assert case(engine, case_id).version == 3
