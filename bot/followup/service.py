"""Follow-ups: opened when a passive or a promoter answers, taken, worked in three steps. Permissions live here."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, select

from bot.cases.service import MAX_CASE_ID, opens_case
from bot.chat.messages import PersonRef
from bot.config import Workspace
from bot.errors import BadInput, InvalidState, NotAllowed, NotFound
from bot.followup.rules import STEPS, Category, Rule, Status, Step, category_of, due_at, rule_for
from bot.intake.hooks import response_hook
from bot.intake.surveys import SurveyKind
from bot.people.roster import Actor, person_ref
from storage.models import FollowUp, FollowUpStep, Member, SurveyResponse

log = logging.getLogger(__name__)

MAX_NOTE = 3000
# An answer older than this when it is stored (a backfill, a tool catching up) is history: thanking
# someone for what they said last quarter helps no one. As with praise (bot/recognition/shoutouts.py).
FRESH = timedelta(days=7)


@dataclass
class FollowUpView:
    """Everything needed to show a follow-up, loaded once."""

    follow_up: FollowUp
    response: SurveyResponse
    owner: PersonRef | None
    steps: list[tuple[FollowUpStep, PersonRef | None]]
    team_title: str
    rule: Rule

    @property
    def id(self) -> int:
        assert self.follow_up.id is not None
        return self.follow_up.id

    @property
    def status(self) -> Status:
        return Status(self.follow_up.status)

    @property
    def category(self) -> Category:
        return Category(self.follow_up.category)

    @property
    def kind(self) -> SurveyKind:
        return SurveyKind(self.response.survey)

    @property
    def done(self) -> set[Step]:
        return {Step(s.step) for s, _ in self.steps}

    @property
    def next_step(self) -> Step | None:
        return next((s for s in STEPS if s not in self.done), None)

    def step_row(self, step: Step) -> tuple[FollowUpStep, PersonRef | None] | None:
        return next(((s, p) for s, p in self.steps if s.step == step.value), None)


def follow_up_id(value: dict) -> int:  # type: ignore[type-arg]
    """The follow-up a button or form is about, from its typed value."""
    try:
        fid = int(value.get("follow_up"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BadInput("That button has lost track of its follow-up; use `/cx mine` instead.") from None
    if not 0 < fid <= MAX_CASE_ID:
        raise BadInput("That button has lost track of its follow-up; use `/cx mine` instead.")
    return fid


def get(session: Session, fid: int) -> FollowUp:
    row = session.get(FollowUp, fid) if 0 < fid <= MAX_CASE_ID else None
    if row is None:
        raise NotFound(f"There is no follow-up #{fid}.")
    return row


def _title(ws: Workspace, team: str) -> str:
    try:
        return ws.team(team).title
    except KeyError:
        return team


def load_views(session: Session, ws: Workspace, ids: list[int]) -> dict[int, FollowUpView]:
    """Views of many follow-ups in three queries; missing ids are left out."""
    if not ids:
        return {}
    rows = session.exec(select(FollowUp, SurveyResponse).join(SurveyResponse, SurveyResponse.id == FollowUp.response_id)
                        .where(FollowUp.id.in_(ids))).all()  # type: ignore[union-attr]
    steps: dict[int, list[FollowUpStep]] = {}
    for st in session.exec(select(FollowUpStep).where(FollowUpStep.follow_up_id.in_(ids)).order_by(FollowUpStep.id)):  # type: ignore[attr-defined]
        steps.setdefault(st.follow_up_id, []).append(st)
    people = {f.owner_id for f, _ in rows} | {st.actor_id for sts in steps.values() for st in sts}
    people.discard(None)
    refs = {m.id: person_ref(m) for m in session.exec(select(Member).where(Member.id.in_(people)))} if people else {}  # type: ignore[union-attr]
    out: dict[int, FollowUpView] = {}
    for f, r in rows:
        out[f.id] = FollowUpView(  # type: ignore[index]
            follow_up=f, response=r, owner=refs.get(f.owner_id) if f.owner_id else None,
            steps=[(st, refs.get(st.actor_id) if st.actor_id else None) for st in steps.get(f.id, [])],  # type: ignore[arg-type]
            team_title=_title(ws, f.team), rule=rule_for(ws, f.team, SurveyKind(r.survey)))
    return {i: out[i] for i in ids if i in out}


def load_view(session: Session, ws: Workspace, fid: int) -> FollowUpView:
    get(session, fid)
    return load_views(session, ws, [fid])[fid]


# --- opening ---------------------------------------------------------------------------------


def open_follow_up(session: Session, ws: Workspace, response: SurveyResponse, *, now: datetime) -> FollowUp | None:
    """A follow-up for a passive or a promoter, when the team's `follow_up` wants one; once per response."""
    kind = SurveyKind(response.survey)
    if response.responded_at < now - FRESH:
        return None
    if opens_case(ws, kind, response.score):
        return None  # a case closes this loop
    category = category_of(kind, response.score)
    team = response.team or ws.default_team
    if category is None:
        return None
    rule = rule_for(ws, team, kind)
    if not rule.wants(category):
        return None
    if session.exec(select(FollowUp.id).where(FollowUp.response_id == response.id)).first() is not None:
        return None  # the hook runs again when a comment is added later
    row = FollowUp(response_id=response.id, team=team, category=category.value, status=Status.OPEN.value,  # type: ignore[arg-type]
                   created_at=now, due_at=due_at(ws, team, rule, now))
    session.add(row)
    session.flush()
    return row


@response_hook
def on_response(session: Session, ws: Workspace, response: SurveyResponse, now: datetime) -> None:
    """Response hook: passives and promoters become follow-ups (listed in the team's next daily post)."""
    try:
        with session.begin_nested():
            open_follow_up(session, ws, response, now=now)
    except Exception:  # a follow-up is a bonus: it must never stop an answer from being stored
        log.exception("follow-up for response %s failed", response.id)


# --- working one -----------------------------------------------------------------------------


def require_worker(actor: Actor, row: FollowUp, doing: str) -> None:
    """Only the follow-up's owner or a manager of its team (or an admin) may work it."""
    if row.owner_id == actor.id or actor.manages_team(row.team):
        return
    if row.owner_id is None:
        raise NotAllowed(f"Follow-up #{row.id} has no owner yet: take it first.")
    raise NotAllowed(f"Only the owner of follow-up #{row.id} or a manager of the {row.team} team can {doing}.")


def take(session: Session, actor: Actor, fid: int, *, now: datetime) -> FollowUp:
    """The caller becomes the owner of an untaken follow-up (members of its team and its managers)."""
    row = get(session, fid)
    if row.owner_id == actor.id:
        raise InvalidState(f"You already have follow-up #{fid}.")
    if row.owner_id is not None:
        raise InvalidState(f"Follow-up #{fid} is already taken.")
    if not actor.in_team(row.team):
        raise NotAllowed(f"Only members of the {row.team} team can take follow-up #{fid}.")
    # Conditional: two people clicking Take at once can't both get it.
    won = session.execute(update(FollowUp).where(FollowUp.id == fid, FollowUp.owner_id.is_(None))  # type: ignore[union-attr]
                          .values(owner_id=actor.id, claimed_at=now, status=Status.IN_PROGRESS.value,
                                  version=FollowUp.version + 1)).rowcount  # type: ignore[attr-defined]
    session.refresh(row)
    if won != 1:
        raise InvalidState(f"Follow-up #{fid} is already taken.")
    return row


def _clean(note: str | None, *, required: bool, what: str) -> str | None:
    note = (note or "").strip() or None
    if required and not note:
        raise BadInput(f"{what} is required.", field="note")
    if note and len(note) > MAX_NOTE:
        raise BadInput(f"{what} is too long ({len(note):,} characters; at most {MAX_NOTE:,}).", field="note")
    return note


def done_steps(session: Session, fid: int) -> set[Step]:
    return {Step(s) for s in session.exec(select(FollowUpStep.step).where(FollowUpStep.follow_up_id == fid))}


def check_step(session: Session, actor: Actor, row: FollowUp, step: Step) -> None:
    """Whether `actor` may tick `step` now: steps go in order, each once, by the owner or a manager."""
    if row.status == Status.DONE.value:
        raise InvalidState(f"Follow-up #{row.id} is done already.")
    require_worker(actor, row, "tick its steps")
    done = done_steps(session, row.id)  # type: ignore[arg-type]
    if step in done:
        raise InvalidState(f"“{step.title}” is already done on follow-up #{row.id}.")
    expected = next((s for s in STEPS if s not in done), None)
    if expected is not None and step is not expected:
        raise InvalidState(f"Do step {expected.number}, “{expected.title}”, before step {step.number}, “{step.title}”.")


def tick(session: Session, actor: Actor, fid: int, step: Step, *, note: str | None, now: datetime) -> FollowUp:
    """Mark a step done; the third (recording what the customer said, required) finishes the follow-up."""
    row = get(session, fid)
    check_step(session, actor, row, step)
    note = _clean(note, required=step is Step.RECORD,
                  what="What the customer said" if step is Step.RECORD else "The note")
    session.add(FollowUpStep(follow_up_id=fid, step=step.value, actor_id=actor.id, done_at=now, note=note))
    row.version += 1
    if step is STEPS[-1]:
        row.status = Status.DONE.value
        row.done_at = now
    session.add(row)
    session.flush()
    return row
