"""Cases: opening, ownership, the RESOLVED checklist, closing the loop. Permissions live here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from bot.config import Workspace, format_duration
from bot.errors import BadInput, InvalidState, NotAllowed, NotFound
from bot.chat.messages import PersonRef
from bot.cases.resolved import STEPS, CaseStatus, LoopChannel, ResolvedStep, RootCause
from bot.people.roster import Actor, actor_for, person_ref, team_members
from bot.cases.sla import due_times
from bot.intake.surveys import SurveyKind
from storage.models import Case, CaseEvent, CaseStep, Member, SurveyResponse
from storage.types import utcnow

MAX_NOTE = 3000
MAX_REASON = 1000
# Case ids are PostgreSQL `integer`s (SQLite's are wider, but its ids never get there): a bigger number
# is no case, never a database error.
MAX_CASE_ID = 2**31 - 1


@dataclass
class CaseView:
    """Everything needed to show a case, loaded once."""

    case: Case
    response: SurveyResponse
    owner: PersonRef | None
    steps: list[tuple[CaseStep, PersonRef | None]]
    team_title: str

    @property
    def status(self) -> CaseStatus:
        return CaseStatus(self.case.status)

    @property
    def done(self) -> set[ResolvedStep]:
        return {ResolvedStep(s.step) for s, _ in self.steps}

    @property
    def next_step(self) -> ResolvedStep | None:
        return next_step(self.done)


def next_step(done: set[ResolvedStep]) -> ResolvedStep | None:
    for step in STEPS:
        if step not in done:
            return step
    return None


def opens_case(ws: Workspace, survey: SurveyKind, score: int) -> bool:
    """A response at or under the configured threshold for its survey kind opens a case."""
    return score <= ws.thresholds.for_kind(survey)


# --- loading ---------------------------------------------------------------------------------


def get_case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id) if 0 < case_id <= MAX_CASE_ID else None
    if case is None:
        raise NotFound(f"There is no case #{case_id}.")
    return case


def case_number(token: str, *, usage: str) -> int:
    """`42` or `#42` typed in a command, as a case id; a number no case can have is "no such case"."""
    digits = token.strip().lstrip("#")
    # ASCII only: `str.isdigit` also accepts `²`, which `int` refuses.
    if not digits or not (digits.isascii() and digits.isdigit()):
        raise BadInput(usage, field="id")
    if len(digits) > len(str(MAX_CASE_ID)) or not 0 < int(digits) <= MAX_CASE_ID:
        shown = digits if len(digits) <= 32 else digits[:32] + "…"
        raise NotFound(f"There is no case #{shown}.")
    return int(digits)


def _ref(session: Session, member_id: int | None) -> PersonRef | None:
    if member_id is None:
        return None
    m = session.get(Member, member_id)
    return person_ref(m) if m else None


def load_view(session: Session, ws: Workspace, case_id: int) -> CaseView:
    case = get_case(session, case_id)
    response = session.get(SurveyResponse, case.response_id)
    assert response is not None
    steps = session.exec(
        select(CaseStep).where(CaseStep.case_id == case.id, CaseStep.round == case.round).order_by(CaseStep.id)
    ).all()
    try:
        title = ws.team(case.team).title
    except KeyError:
        title = case.team
    return CaseView(case=case, response=response, owner=_ref(session, case.owner_id),
                    steps=[(s, _ref(session, s.actor_id)) for s in steps], team_title=title)


def load_views(session: Session, ws: Workspace, case_ids: list[int]) -> dict[int, CaseView]:
    """`load_view` for many cases in three queries (cases with responses, steps, people); missing ids are left out."""
    if not case_ids:
        return {}
    cases: dict[int, Case] = {}
    responses: dict[int, SurveyResponse] = {}
    for c, r in session.exec(select(Case, SurveyResponse).join(SurveyResponse, SurveyResponse.id == Case.response_id)
                             .where(Case.id.in_(case_ids))):  # type: ignore[union-attr]
        cases[c.id] = c  # type: ignore[index]
        responses[r.id] = r  # type: ignore[index]
    steps: dict[int, list[CaseStep]] = {}
    for st in session.exec(select(CaseStep).where(CaseStep.case_id.in_(list(cases))).order_by(CaseStep.id)):  # type: ignore[attr-defined]
        if st.round == cases[st.case_id].round:
            steps.setdefault(st.case_id, []).append(st)
    people = {c.owner_id for c in cases.values()} | {st.actor_id for sts in steps.values() for st in sts}
    people.discard(None)
    refs = {m.id: person_ref(m) for m in session.exec(select(Member).where(Member.id.in_(people)))} if people else {}  # type: ignore[union-attr]
    titles = {t.key: t.title for t in ws.teams}
    out = {}
    for cid in case_ids:
        case = cases.get(cid)
        if case is None:
            continue
        out[cid] = CaseView(case=case, response=responses[case.response_id],
                            owner=refs.get(case.owner_id) if case.owner_id is not None else None,
                            steps=[(st, refs.get(st.actor_id) if st.actor_id is not None else None)
                                   for st in steps.get(cid, [])],
                            team_title=titles.get(case.team, case.team))
    return out


def history(session: Session, case_id: int) -> list[tuple[CaseEvent, PersonRef | None]]:
    events = session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)).all()
    return [(e, _ref(session, e.actor_id)) for e in events]


# --- changes ---------------------------------------------------------------------------------


def _record(session: Session, case: Case, kind: str, actor: Actor | None, now: datetime,
            **detail: Any) -> CaseEvent:
    case.version += 1
    ev = CaseEvent(case_id=case.id, at=now, actor_id=actor.id if actor else None, kind=kind,
                   detail={k: v for k, v in detail.items() if v is not None} or None)
    session.add(case)
    session.add(ev)
    session.flush()
    return ev


def open_case(session: Session, ws: Workspace, response: SurveyResponse, *, now: datetime | None = None) -> Case:
    """Open the case for a detractor response, with its due times and, if configured, an owner."""
    now = now or utcnow()
    team = response.team or ws.default_team
    respond_by, resolve_by = due_times(now, ws.sla_for(team), ws.zone, ws.business_hours)
    case = Case(response_id=response.id, team=team, status=CaseStatus.OPEN.value, opened_at=now,
                respond_due_at=respond_by, resolve_due_at=resolve_by)
    session.add(case)
    session.flush()
    _record(session, case, "opened", None, now, survey=response.survey, score=response.score)
    if ws.team(team).round_robin:
        owner = _round_robin_pick(session, team)
        if owner is not None:
            _set_owner(session, case, owner, None, now, kind="auto_assigned")
    return case


def _round_robin_pick(session: Session, team: str) -> Member | None:
    """The team member who was given a case longest ago (never-given first)."""
    members = team_members(session, team)
    if not members:
        return None
    last: dict[int, int] = dict(session.exec(
        select(Case.owner_id, func.max(Case.id)).where(Case.team == team, Case.owner_id.is_not(None))
        .group_by(Case.owner_id)).all())  # type: ignore[arg-type]
    return min(members, key=lambda m: (last.get(m.id, 0), m.id))  # type: ignore[arg-type]


def _set_owner(session: Session, case: Case, owner: Member, actor: Actor | None, now: datetime, *,
               kind: str, reason: str | None = None) -> CaseEvent:
    previous = case.owner_id
    case.owner_id = owner.id
    case.claimed_at = case.claimed_at or now
    if case.status == CaseStatus.OPEN.value:
        case.status = CaseStatus.IN_PROGRESS.value
    return _record(session, case, kind, actor, now, owner_id=owner.id, previous_owner_id=previous, reason=reason)


def require_active(case: Case, doing: str) -> None:
    """A case that is resolved, closed or dismissed must be reopened before anyone works on it."""
    if not CaseStatus(case.status).is_active:
        raise InvalidState(f"Case #{case.id} is {CaseStatus(case.status).label.lower()}; reopen it before you {doing}.")


def require_worker(actor: Actor, case: Case, doing: str) -> None:
    """Only the owner or a manager of the case's team (or an admin) may work a case.

    `doing` says what, with `{case}` where the case goes: "tick steps on {case}".
    """
    if case.owner_id == actor.id or actor.manages_team(case.team):
        return
    if case.owner_id is None:
        raise NotAllowed(f"Case #{case.id} has no owner yet: take it first, or ask a manager of "
                         f"the {case.team} team to {doing.format(case='it')}.")
    raise NotAllowed(f"Only the case owner or a manager of the {case.team} team can "
                     f"{doing.format(case=f'case #{case.id}')}.")


def _reason(reason: str | None, *, why: str) -> str:
    """A required reason, trimmed: `why` finishes "Say why …" when it is missing."""
    reason = (reason or "").strip()
    if not reason:
        raise BadInput(f"Say why {why} (a reason is required).", field="reason")
    if len(reason) > MAX_REASON:
        raise BadInput(f"The reason is too long ({len(reason)} characters; at most {MAX_REASON}).", field="reason")
    return reason


def take(session: Session, actor: Actor, case_id: int, *, now: datetime | None = None) -> CaseEvent:
    """The caller becomes the owner of an unclaimed case."""
    now = now or utcnow()
    case = get_case(session, case_id)
    require_active(case, "take it")
    if case.owner_id == actor.id:
        raise InvalidState(f"You already own case #{case.id}.")
    if case.owner_id is not None:
        raise InvalidState(f"Case #{case.id} is already owned; ask its owner or a manager to reassign it.")
    if not actor.in_team(case.team):
        raise NotAllowed(f"Only members of the {case.team} team can take case #{case.id}.")
    return _set_owner(session, case, actor.member, actor, now, kind="taken")


def check_assign(session: Session, actor: Actor, case: Case, assignee: Member) -> None:
    """Whether `actor` may give `case` to `assignee`; raises NotAllowed or InvalidState saying why.

    One rule for every path (the Slack and Teams pickers, the reassign forms, `/cx assign`): only a
    manager of the case's team (or an admin) gives a case to someone else; anyone else may only pick
    themselves, on an unowned case of a team they belong to; and whoever gets it must belong to the
    team, because owning a case shows them the customer's details.
    """
    require_active(case, "assign it")
    if assignee.id == case.owner_id:
        raise InvalidState(f"Case #{case.id} is already with {assignee.name or 'them'}.")
    manager = actor.manages_team(case.team)
    if assignee.id != actor.id and not manager:
        if case.owner_id is None and actor.in_team(case.team):
            raise NotAllowed(f"Only a manager of the {case.team} team can give case #{case.id} to someone else "
                             f"(you can take it yourself).")
        raise NotAllowed(f"Only a manager of the {case.team} team can give case #{case.id} to someone else.")
    if not manager:
        # Picking themselves: the same as taking it.
        if not actor.in_team(case.team):
            raise NotAllowed(f"Only members of the {case.team} team can take case #{case.id}.")
        if case.owner_id is not None:
            raise InvalidState(f"Case #{case.id} is already owned; ask its owner or a manager to reassign it.")
    if assignee.id != actor.id and not actor_for(session, assignee).in_team(case.team):
        raise NotAllowed(f"{assignee.name or 'That person'} is not in the {case.team} team, so they can't own "
                         f"case #{case.id}; add them to the team first (`/cx team add`) or pick a member.")


def assign(session: Session, actor: Actor, case_id: int, assignee: Member, *, reason: str | None = None,
           now: datetime | None = None) -> CaseEvent:
    """Give a case to someone (see `check_assign`). Reassigning an owned case needs a reason."""
    now = now or utcnow()
    case = get_case(session, case_id)
    check_assign(session, actor, case, assignee)
    if case.owner_id is not None:
        reason = _reason(reason, why="you are reassigning the case")
    kind = "assigned" if case.owner_id is None else "reassigned"
    return _set_owner(session, case, assignee, actor, now, kind=kind, reason=reason or None)


def _clean_note(note: str | None, *, required: bool, what: str) -> str | None:
    note = (note or "").strip() or None
    if required and not note:
        raise BadInput(f"{what} is required.", field="note")
    if note and len(note) > MAX_NOTE:
        raise BadInput(f"{what} is too long ({len(note)} characters; at most {MAX_NOTE}).", field="note")
    return note


def tick_step(session: Session, actor: Actor, case_id: int, step: ResolvedStep, *, note: str | None = None,
              customer_agreed: bool | None = None, root_cause: str | None = None,
              now: datetime | None = None) -> CaseEvent:
    """Mark a RESOLVED step done. Steps go in order; the eighth resolves the case."""
    now = now or utcnow()
    case = get_case(session, case_id)
    require_active(case, "tick steps")
    require_worker(actor, case, "tick steps on {case}")
    done = {ResolvedStep(s) for s in session.exec(
        select(CaseStep.step).where(CaseStep.case_id == case.id, CaseStep.round == case.round))}
    if step in done:
        raise InvalidState(f"“{step.guide.title}” is already done on case #{case.id}.")
    expected = next_step(done)
    if expected is not None and step is not expected:
        raise InvalidState(f"Do step {expected.number}, “{expected.guide.title}”, before "
                           f"step {step.number}, “{step.guide.title}”.")
    cause: RootCause | None = None
    if step is ResolvedStep.VERIFY:
        if customer_agreed is not True:
            raise BadInput("Verify needs the customer's agreement: record that they agreed to the solution "
                           "(if they did not, keep working on it with them).", field="customer_agreed")
        note = _clean_note(note, required=False, what="The note")
    elif step is ResolvedStep.DOCUMENT:
        if not root_cause:
            raise BadInput("Choose the root-cause area (personnel; processes and technology; customers; "
                           "financials).", field="root_cause")
        try:
            cause = RootCause(root_cause)
        except ValueError:
            raise BadInput(f"{root_cause!r} is not a root-cause area; choose personnel, processes, customers "
                           "or financials.", field="root_cause") from None
        note = _clean_note(note, required=True, what="A note describing the problem and its root cause")
    else:
        note = _clean_note(note, required=False, what="The note")
    session.add(CaseStep(case_id=case.id, round=case.round, step=step.value, actor_id=actor.id, done_at=now,
                         note=note, customer_agreed=customer_agreed if step is ResolvedStep.VERIFY else None,
                         root_cause=cause.value if cause else None))
    if step is ResolvedStep.RESPOND and case.first_response_at is None:
        case.first_response_at = now
    if cause is not None:
        case.root_cause = cause.value
    ev = _record(session, case, "step", actor, now, step=step.value, note=note,
                 root_cause=cause.value if cause else None)
    if len(done) + 1 == len(STEPS):
        case.status = CaseStatus.RESOLVED.value
        case.resolved_at = now
        _record(session, case, "resolved", actor, now)
    return ev


def close_loop(session: Session, actor: Actor, case_id: int, *, how: str, when: datetime | None = None,
               note: str | None = None, now: datetime | None = None) -> CaseEvent:
    """Record that the customer was told the problem is solved: the loop is closed."""
    now = now or utcnow()
    case = get_case(session, case_id)
    if case.status != CaseStatus.RESOLVED.value:
        if CaseStatus(case.status).is_active:
            left = len(STEPS) - len(load_done(session, case))
            raise InvalidState(f"Case #{case.id} still has {left} RESOLVED step(s) to do before the loop can be closed.")
        raise InvalidState(f"Case #{case.id} is {CaseStatus(case.status).label.lower()}.")
    require_worker(actor, case, "close the loop on {case}")
    try:
        channel = LoopChannel(how)
    except ValueError:
        raise BadInput(f"{how!r} is not a way of reaching the customer; use "
                       f"{', '.join(c.value for c in LoopChannel)}.", field="how") from None
    when = when or now
    if when > now + timedelta(minutes=5):
        raise BadInput("The loop can't be closed in the future; give the time you spoke to the customer.", field="when")
    if when < case.opened_at - timedelta(minutes=5):
        raise BadInput("That time is before the case was opened.", field="when")
    note = _clean_note(note, required=False, what="The note")
    case.status = CaseStatus.CLOSED.value
    case.loop_closed_at = when
    case.loop_closed_how = channel.value
    case.loop_closed_note = note
    case.closed_at = now
    return _record(session, case, "loop_closed", actor, now, how=channel.value, when=when.isoformat(), note=note)


def load_done(session: Session, case: Case) -> set[ResolvedStep]:
    return {ResolvedStep(s) for s in session.exec(
        select(CaseStep.step).where(CaseStep.case_id == case.id, CaseStep.round == case.round))}


def dismiss(session: Session, actor: Actor, case_id: int, *, reason: str, now: datetime | None = None) -> CaseEvent:
    """Close a case as not actionable; the reason is required."""
    now = now or utcnow()
    case = get_case(session, case_id)
    require_active(case, "close it")
    require_worker(actor, case, "mark {case} not actionable")
    reason = _reason(reason, why="the case is not actionable")
    case.status = CaseStatus.DISMISSED.value
    case.close_reason = reason
    case.closed_at = now
    return _record(session, case, "dismissed", actor, now, reason=reason)


def reopen(session: Session, actor: Actor, case_id: int, *, reason: str, now: datetime | None = None) -> CaseEvent:
    """Reopen a resolved, closed or dismissed case. The checklist starts a new round."""
    now = now or utcnow()
    case = get_case(session, case_id)
    if CaseStatus(case.status).is_active:
        raise InvalidState(f"Case #{case.id} is still open.")
    require_worker(actor, case, "reopen {case}")
    reason = _reason(reason, why="the case is being reopened")
    case.status = CaseStatus.IN_PROGRESS.value if case.owner_id else CaseStatus.OPEN.value
    case.round += 1
    case.resolved_at = None
    case.loop_closed_at = None
    case.loop_closed_how = None
    case.loop_closed_note = None
    case.closed_at = None
    case.close_reason = None
    return _record(session, case, "reopened", actor, now, reason=reason, round=case.round)


def snooze(session: Session, actor: Actor, case_id: int, *, until: datetime, reason: str, max_snooze: timedelta,
           now: datetime | None = None) -> CaseEvent:
    """Hold the owner's reminders until `until` (at most `max_snooze` ahead); a reason is required."""
    now = now or utcnow()
    case = get_case(session, case_id)
    require_active(case, "snooze it")
    require_worker(actor, case, "snooze {case}")
    reason = _reason(reason, why="you are snoozing the reminders")
    if until <= now:
        raise BadInput("Snooze until a time in the future.", field="until")
    if until > now + max_snooze:
        raise BadInput(f"Reminders can be snoozed for at most {format_duration(max_snooze)}.", field="until")
    case.snoozed_until = until
    case.snooze_reason = reason
    return _record(session, case, "snoozed", actor, now, until=until.isoformat(), reason=reason)
