"""What each case button and form does, for Slack and Teams alike (bot/chat/interactions.py).

A button that opens a form checks first that the person may do what the form is for, so a refusal
comes before anyone types a note; the form's submission checks again, because a form (or a forged
request) can arrive long after it was opened.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlmodel import Session

from bot.cases import messages as cm
from bot.cases import service as cases
from bot.cases.enums import CaseAction, CaseForm
from bot.cases.notify import publish_change
from bot.cases.resolved import CaseStatus, ResolvedStep
from bot.chat.interactions import Click, Done, Outcome, Submission, action, case_id, form
from bot.chat.messages import Form
from bot.config import parse_duration
from bot.errors import BadInput, InvalidState
from bot.machinery.runtime import Runtime
from bot.people.roster import member_by_id, person_ref
from storage.models import Case, CaseEvent, Member


def _publish(s: Session, rt: Runtime, event: CaseEvent) -> None:
    publish_change(s, rt.workspace, cases.get_case(s, event.case_id), event)


def _picked(c: Click) -> Member:
    if c.picked is None:
        raise BadInput("Choose who should have the case.", field="picked")
    return c.picked


def _step_of(value: dict[str, Any]) -> ResolvedStep:
    try:
        return ResolvedStep(value.get("step"))
    except ValueError:
        raise BadInput("That button names no RESOLVED step.") from None


def _open_for_work(s: Session, c: Click, *, active: str, work: str) -> tuple[int, Case]:
    """The clicked case, refused unless it is still open (`active`: what cannot be done otherwise)
    and the clicker may work it (`work`: what they may not do otherwise)."""
    cid = case_id(c.value)
    case = cases.get_case(s, cid)
    cases.require_active(case, active)
    cases.require_worker(c.actor, case, work)
    return cid, case


# --- buttons and pickers ---------------------------------------------------------------------


@action(CaseAction.TAKE)
def take(s: Session, c: Click) -> Outcome:
    cid = case_id(c.value)
    _publish(s, c.rt, cases.take(s, c.actor, cid, now=c.rt.now()))
    return Done(f"You took case #{cid}. Its RESOLVED checklist is in your chat with cxloop.")


@action(CaseAction.ASSIGN)
def assign(s: Session, c: Click) -> Outcome:
    cid = case_id(c.value)
    assignee = _picked(c)
    _publish(s, c.rt, cases.assign(s, c.actor, cid, assignee, now=c.rt.now()))
    return Done(f"Case #{cid} is now with {assignee.name or 'them'}.")


@action(CaseAction.REASSIGN)
def reassign(s: Session, c: Click) -> Outcome:
    cid = case_id(c.value)
    assignee = _picked(c)
    cases.check_assign(s, c.actor, cases.get_case(s, cid), assignee)
    return cm.reassign_form(cid, person_ref(assignee))


@action(CaseAction.DISMISS)
def dismiss(s: Session, c: Click) -> Outcome:
    cid, _ = _open_for_work(s, c, active="close it", work="mark {case} not actionable")
    return cm.dismiss_form(cid)


@action(CaseAction.STEP)
def step(s: Session, c: Click) -> Outcome:
    cid, case = _open_for_work(s, c, active="tick steps", work="tick steps on {case}")
    chosen = _step_of(c.value)
    if chosen in cases.load_done(s, case):
        raise InvalidState(f"“{chosen.guide.title}” is already done on case #{cid}.")
    return cm.step_form(cid, chosen)


@action(CaseAction.CLOSE_LOOP)
def close_loop(s: Session, c: Click) -> Outcome:
    cid = case_id(c.value)
    case = cases.get_case(s, cid)
    cases.require_worker(c.actor, case, "close the loop on {case}")
    if CaseStatus(case.status) is not CaseStatus.RESOLVED:
        raise InvalidState(f"Case #{cid} is not resolved yet.")
    return cm.close_loop_form(cid, c.rt.now())


@action(CaseAction.REOPEN)
def reopen(s: Session, c: Click) -> Outcome:
    cid = case_id(c.value)
    case = cases.get_case(s, cid)
    if CaseStatus(case.status).is_active:
        raise InvalidState(f"Case #{cid} is still open.")
    cases.require_worker(c.actor, case, "reopen {case}")
    return cm.reopen_form(cid)


@action(CaseAction.SNOOZE)
def snooze(s: Session, c: Click) -> Outcome:
    cid, _ = _open_for_work(s, c, active="snooze it", work="snooze {case}")
    return cm.snooze_form(cid)


# --- forms -----------------------------------------------------------------------------------


def _rebuild_step(s: Session, rt: Runtime, meta: dict[str, Any]) -> Form:
    return cm.step_form(case_id(meta), _step_of(meta))


@form(CaseForm.STEP, _rebuild_step)
def step_done(s: Session, sub: Submission) -> Outcome:
    v = sub.values
    _publish(s, sub.rt, cases.tick_step(s, sub.actor, case_id(sub.meta), _step_of(sub.meta), note=v.get("note"),
                                        customer_agreed=v.get("customer_agreed"), root_cause=v.get("root_cause"),
                                        now=sub.rt.now()))
    return None


@form(CaseForm.DISMISS, lambda s, rt, meta: cm.dismiss_form(case_id(meta)))
def dismissed(s: Session, sub: Submission) -> Outcome:
    _publish(s, sub.rt, cases.dismiss(s, sub.actor, case_id(sub.meta), reason=sub.values.get("reason") or "",
                                      now=sub.rt.now()))
    return None


@form(CaseForm.REOPEN, lambda s, rt, meta: cm.reopen_form(case_id(meta)))
def reopened(s: Session, sub: Submission) -> Outcome:
    _publish(s, sub.rt, cases.reopen(s, sub.actor, case_id(sub.meta), reason=sub.values.get("reason") or "",
                                     now=sub.rt.now()))
    return None


def _assignee(s: Session, meta: dict[str, Any]) -> Member:
    try:
        return member_by_id(s, int(meta["assignee"]))
    except (KeyError, TypeError, ValueError):
        raise BadInput("That form has lost track of who should get the case; pick them again.") from None


def _rebuild_reassign(s: Session, rt: Runtime, meta: dict[str, Any]) -> Form:
    person = person_ref(_assignee(s, meta)) if meta.get("assignee") else None
    return cm.reassign_form(case_id(meta), person)


@form(CaseForm.REASSIGN, _rebuild_reassign)
def reassigned(s: Session, sub: Submission) -> Outcome:
    _publish(s, sub.rt, cases.assign(s, sub.actor, case_id(sub.meta), _assignee(s, sub.meta),
                                     reason=sub.values.get("reason"), now=sub.rt.now()))
    return None


@form(CaseForm.SNOOZE, lambda s, rt, meta: cm.snooze_form(case_id(meta)))
def snoozed(s: Session, sub: Submission) -> Outcome:
    cid, ws = case_id(sub.meta), sub.rt.workspace
    case = cases.get_case(s, cid)
    sla = ws.sla_for(case.team) if case.team in {t.key for t in ws.teams} else ws.sla
    try:
        until = sub.rt.now() + parse_duration(sub.values.get("for") or "")
    except ValueError:
        raise BadInput("Choose how long to snooze for.", field="for") from None
    _publish(s, sub.rt, cases.snooze(s, sub.actor, cid, until=until, reason=sub.values.get("reason") or "",
                                     max_snooze=sla.snooze_max, now=sub.rt.now()))
    return None


@form(CaseForm.CLOSE_LOOP, lambda s, rt, meta: cm.close_loop_form(case_id(meta), rt.now()))
def loop_closed(s: Session, sub: Submission) -> Outcome:
    v = sub.values
    when = _epoch(v.get("when"))
    _publish(s, sub.rt, cases.close_loop(s, sub.actor, case_id(sub.meta), how=v.get("how") or "", when=when,
                                         note=v.get("note"), now=sub.rt.now()))
    return None


def _epoch(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromtimestamp(int(value), tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        raise BadInput("Give the time you spoke to the customer.", field="when") from None
