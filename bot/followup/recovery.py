"""Recovery: a customer answers again after a case of theirs had its loop closed. Did it win them back?

A response hook (bot/intake/hooks.py), so it happens in the new answer's own transaction, once:
the answer is linked to the case (`case_recovery`, one link per case and per answer: the customer's
first answer after the loop was closed), the case's history and thread say what changed ("Dana
answered 9 after the loop was closed: recovered"), and when it is a recovery, whoever closed the
loop gets one shout-out for it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import exists, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.cases.notify import alert_key, channel_targets
from bot.cases.resolved import CaseStatus
from bot.chat.messages import Context, Mention, Message, Section, bold, plain
from bot.config import Workspace
from bot.followup.customers import Answer, Customers, is_recovery
from bot.followup.messages import first_name
from bot.intake.hooks import response_hook
from bot.machinery.queueing import enqueue
from bot.machinery.schedule import claim
from bot.people.roster import person_ref
from bot.recognition.shoutouts import POSTED, post_to_team
from storage.models import Case, CaseEvent, CaseRecovery, Member, Shoutout, SurveyResponse

log = logging.getLogger(__name__)


def _label(survey: str, score: int) -> str:
    return f"{survey.upper()} {score}"


def closed_cases_of(session: Session, response: SurveyResponse) -> list[tuple[Case, SurveyResponse, str]]:
    """Closed-loop cases of this customer whose loop was closed by the time they answered, not yet
    linked to an answer, with how the customer matched (by id or by email)."""
    new = Answer.of(response)
    conds = []
    if new.customer_id:
        conds.append(SurveyResponse.customer_id == new.customer_id)
    if new.email:
        conds.append(func.lower(SurveyResponse.customer_email) == new.email)
    if not conds:
        return []
    rows = session.exec(select(Case, SurveyResponse).join(SurveyResponse, SurveyResponse.id == Case.response_id).where(
        or_(*conds), Case.status == CaseStatus.CLOSED.value, Case.loop_closed_at.is_not(None),  # type: ignore[union-attr]
        Case.loop_closed_at <= response.responded_at, Case.response_id != response.id,  # type: ignore[operator]
        ~exists().where(CaseRecovery.case_id == Case.id))).all()
    if not rows:
        return []
    who = Customers(session, [new])
    out = []
    for case, before in rows:
        how = who.same(new, Answer.of(before))
        if how:
            out.append((case, before, how))
    return out


def link(session: Session, ws: Workspace, response: SurveyResponse, *, now: datetime) -> CaseRecovery | None:
    """Link a new answer to the customer's most recently closed loop, once, and say what changed."""
    if session.exec(select(CaseRecovery.id).where(CaseRecovery.response_id == response.id)).first() is not None:
        return None  # the hook runs again when a comment is added later
    found = closed_cases_of(session, response)
    if not found:
        return None
    case, before, how = max(found, key=lambda f: (f[0].loop_closed_at, f[0].id))
    recovered = is_recovery(ws, before, response)
    row = CaseRecovery(case_id=case.id, response_id=response.id, matched_by=how,  # type: ignore[arg-type]
                       before_survey=before.survey, before_score=before.score, after_survey=response.survey,
                       after_score=response.score, recovered=recovered, at=now)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None  # a concurrent answer of the same customer linked this case first
    ev = CaseEvent(case_id=case.id, at=now, kind="answered_again",
                   detail={"response_id": response.id, "survey": response.survey, "score": response.score,
                           "before": before.score, "recovered": recovered, "matched_by": how})
    session.add(ev)
    session.flush()
    note = thread_note(before, response, recovered)
    for platform, channel in channel_targets(ws, case.team):
        key = alert_key(platform, case.id)  # type: ignore[arg-type]
        enqueue(session, key=f"{key}:event:{ev.id}", platform=platform, action="post", target=channel,
                message=note, thread_key=key, case_id=case.id)
    if recovered:
        credit(session, ws, case, before, response, now=now)
    return row


def thread_note(before: SurveyResponse, after: SurveyResponse, recovered: bool) -> Message:
    """For the case's thread: "Dana answered 9 after the loop was closed: recovered"."""
    verdict = "recovered" if recovered else "not won back yet"
    name = first_name(after if after.customer_name else before)
    head = f"{name} answered {after.score} after the loop was closed: {verdict}"
    return Message(text=head, blocks=[
        Section(spans=[plain("🔁 "), bold(head)]),
        Context(spans=[plain(f"{_label(before.survey, before.score)} before → {_label(after.survey, after.score)} now")])])


def _closer(session: Session, case: Case) -> Member | None:
    """Who closed the loop: the case's owner, else whoever recorded the closing; nobody if neither is known."""
    if case.owner_id is not None:
        return session.get(Member, case.owner_id)
    actor = session.exec(select(CaseEvent.actor_id).where(CaseEvent.case_id == case.id, CaseEvent.kind == "loop_closed")
                         .order_by(CaseEvent.id.desc())).first()  # type: ignore[union-attr]
    return session.get(Member, actor) if actor else None


def credit(session: Session, ws: Workspace, case: Case, before: SurveyResponse, after: SurveyResponse, *,
           now: datetime) -> Shoutout | None:
    """One shout-out per recovery, for the one person who closed the loop."""
    member = _closer(session, case)
    if member is None or not claim(session, f"shoutout:recovery:{case.id}"):
        return None
    text = (f"Won a customer back: after the loop was closed on case #{case.id}, they answered "
            f"{_label(after.survey, after.score)} (was {_label(before.survey, before.score)}).")
    row = Shoutout(team=case.team, to_member_id=member.id, from_member_id=None, source="recovery", text=text,  # type: ignore[arg-type]
                   response_id=after.id, case_id=case.id, status=POSTED, created_at=now)
    session.add(row)
    session.flush()
    msg = Message(text=f"A customer won back on case #{case.id}", blocks=[
        Section(spans=[plain("🔁 "), Mention(person=person_ref(member)),
                       plain(f" won a customer back: after the loop was closed on case #{case.id}, "
                             f"{first_name(after if after.customer_name else before)} answered {_label(after.survey, after.score)} "
                             f"(was {_label(before.survey, before.score)}). Thank you!")])])
    post_to_team(session, ws, case.team, f"shoutout:{row.id}", msg)
    return row


@response_hook
def on_response(session: Session, ws: Workspace, response: SurveyResponse, now: datetime) -> None:
    """Response hook: an answer after a closed loop is linked to that case, and a recovery is credited."""
    try:
        with session.begin_nested():
            link(session, ws, response, now=now)
    except Exception:  # recovery is a bonus: it must never stop an answer from being stored
        log.exception("recovery check for response %s failed", response.id)
