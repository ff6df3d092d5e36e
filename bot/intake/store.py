"""Storing survey responses: once each, routed to a team, opening a case for detractors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.cases.service import opens_case, open_case
from bot.config import Workspace
from bot.cases.notify import publish_opened
from bot.intake.hooks import hooks
from bot.intake.surveys import ResponseIn
from bot.privacy import guard
from storage.db import session_scope
from storage.models import Case, ProcessedEvent, SurveyResponse
from storage.types import utcnow


@dataclass(frozen=True)
class IntakeResult:
    response_id: int | None
    case_id: int | None
    created: bool
    updated: bool = False
    # An erased customer's earlier answer (bot/privacy/guard.py): not stored again.
    erased: bool = False

    def as_dict(self) -> dict[str, object]:
        if self.erased:
            return {"response_id": None, "case_id": None, "status": "erased"}
        return {"response_id": self.response_id, "case_id": self.case_id,
                "status": "stored" if self.created else ("updated" if self.updated else "duplicate")}


ERASED = IntakeResult(None, None, created=False, erased=True)


def _existing(session: Session, source: str, external_id: str) -> IntakeResult | None:
    row = session.exec(select(SurveyResponse.id).where(SurveyResponse.source == source,
                                                       SurveyResponse.external_id == external_id)).first()
    if row is None:
        return None
    if guard.erased_on_request(session, row):
        return ERASED
    case_id = session.exec(select(Case.id).where(Case.response_id == row)).first()
    return IntakeResult(response_id=row, case_id=case_id, created=False)


def _seen_event(session: Session, source: str, event_id: str) -> bool:
    return session.exec(select(ProcessedEvent.id).where(ProcessedEvent.source == source,
                                                        ProcessedEvent.event_id == event_id)).first() is not None


def store_response(session: Session, ws: Workspace, r: ResponseIn, *, now: datetime | None = None) -> IntakeResult:
    """Store one response inside the caller's transaction; opens and queues a case when due."""
    now = now or utcnow()
    dup = _existing(session, r.source, r.external_id)
    if dup:
        return dup
    if guard.refused(session, email=r.customer_email, customer_id=r.customer_id, responded_at=r.responded_at):
        return ERASED
    row = SurveyResponse(source=r.source, external_id=r.external_id, survey=r.survey.value, score=r.score,
                         comment=r.comment, customer_id=r.customer_id, customer_name=r.customer_name,
                         customer_email=r.customer_email, touchpoint=r.touchpoint, team=ws.route(r.touchpoint),
                         responded_at=r.responded_at, received_at=now, raw=r.raw)
    session.add(row)
    session.flush()
    case_id = None
    if opens_case(ws, r.survey, r.score):
        case = open_case(session, ws, row, now=now)
        publish_opened(session, ws, case)
        case_id = case.id
    for hook in hooks():
        hook(session, ws, row, now)
    return IntakeResult(response_id=row.id, case_id=case_id, created=True)


def record_response(engine: Engine, ws: Workspace, r: ResponseIn, *, event_id: str | None = None,
                    now: datetime | None = None) -> IntakeResult:
    """Store a response once, whatever retries and concurrent deliveries happen."""
    for attempt in range(3):
        try:
            with session_scope(engine) as session:
                if event_id and _seen_event(session, r.source, event_id):
                    return _existing(session, r.source, r.external_id) or IntakeResult(None, None, created=False)
                result = store_response(session, ws, r, now=now)
                if event_id:
                    session.add(ProcessedEvent(source=r.source, event_id=event_id))
                    session.flush()
                return result
        except IntegrityError:
            # A concurrent delivery of the same response won the race; answer as a repeat.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def record_comment_update(engine: Engine, ws: Workspace, r: ResponseIn, *, event_id: str | None = None,
                          now: datetime | None = None) -> IntakeResult:
    """A later edit of a stored response (e.g. Delighted's comment): same response, never a second case."""
    from bot.cases.service import load_view  # local: avoids a cycle at import time
    from bot.cases.notify import publish_comment_added

    with session_scope(engine) as session:
        if event_id and _seen_event(session, r.source, event_id):
            return _existing(session, r.source, r.external_id) or IntakeResult(None, None, created=False)
        row = session.exec(select(SurveyResponse).where(SurveyResponse.source == r.source,
                                                        SurveyResponse.external_id == r.external_id)).first()
        if row is None:
            result = store_response(session, ws, r, now=now)
        elif guard.erased_on_request(session, row.id) or guard.comment_removed(session, row.id):
            # A later edit of an erased answer, or of one whose comment's time is up: not taken in.
            result = ERASED if guard.erased_on_request(session, row.id) else IntakeResult(row.id, None, created=False)
        else:
            changed = (r.comment or None) != (row.comment or None)
            if changed:
                row.comment = r.comment
                row.raw = r.raw
                session.add(row)
                session.flush()
            case_id = session.exec(select(Case.id).where(Case.response_id == row.id)).first()
            if changed and case_id is not None:
                publish_comment_added(session, ws, load_view(session, ws, case_id).case)
            if changed:
                # The comment may only now name someone (Delighted sends it after the score);
                # hooks are once-only per response, so running them again adds only what is new.
                for hook in hooks():
                    hook(session, ws, row, now or utcnow())
            result = IntakeResult(response_id=row.id, case_id=case_id, created=False, updated=changed)
        if event_id:
            session.add(ProcessedEvent(source=r.source, event_id=event_id))
        return result


