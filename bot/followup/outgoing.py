"""Outgoing events: a loop closed or a follow-up done, told to a survey tool or CRM by a signed webhook.

With `outgoing: {url, secret, events}` in the workspace YAML, each event is queued in the outbox
(platform "webhook"), keyed by its idempotency key, so it is queued once however often the code
that wants it runs, and delivered with the outbox's retries (handlers/outgoing/port.py signs and
sends it). The key travels in the body (`id`) and in the `Idempotency-Key` header, unchanged on
every retry, so a receiver that saw it before can drop the repeat.

- follow_up_done: queued in the transaction that ticks a follow-up's last step.
- loop_closed: found by this module's due job, which looks each minute at the loops closed in the
  last LOOKBACK (whoever closed them, however), and queues each closing once (a job claim).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.cases.resolved import CaseStatus
from bot.config import Workspace
from bot.followup.service import FollowUpView
from bot.machinery.queueing import enqueue
from bot.machinery.schedule import claim, due_job
from storage.db import session_scope
from storage.models import Case, JobClaim, Member, SurveyResponse

log = logging.getLogger(__name__)

PLATFORM = "webhook"
TARGET = "outgoing"  # one target: events go out in the order they were queued
LOOKBACK = timedelta(days=7)


def _iso(dt: datetime | None) -> str | None:
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if dt else None


def wants(ws: Workspace, event: str) -> bool:
    return ws.outgoing is not None and event in ws.outgoing.events


def _customer(r: SurveyResponse) -> dict[str, Any]:
    return {"id": r.customer_id, "name": r.customer_name, "email": r.customer_email}


def _response(r: SurveyResponse) -> dict[str, Any]:
    return {"id": r.id, "source": r.source, "external_id": r.external_id, "survey": r.survey, "score": r.score,
            "touchpoint": r.touchpoint, "responded_at": _iso(r.responded_at)}


def _person(m: Member | None) -> dict[str, Any] | None:
    return {"name": m.name, "slack_user_id": m.slack_user_id, "teams_user_id": m.teams_user_id} if m else None


def queue(session: Session, ws: Workspace, event: str, subject: str, occurred_at: datetime,
          data: dict[str, Any]) -> bool:
    """Queue one event, once per idempotency key; False when it is not wanted or was queued before."""
    if not wants(ws, event):
        return False
    key = f"webhook:{event}:{subject}"
    body = {"id": key, "event": event, "occurred_at": _iso(occurred_at), **data}
    return enqueue(session, key=key, platform=PLATFORM, action="post", target=TARGET, message=body)


def follow_up_done(session: Session, ws: Workspace, view: FollowUpView) -> bool:
    """The follow-up's three steps are done: tell the receiver what the customer said."""
    f, r = view.follow_up, view.response
    said = next((s.note for s, _ in view.steps if s.step == "record"), None)
    owner = session.get(Member, f.owner_id) if f.owner_id else None
    data = {"follow_up": {"id": f.id, "team": f.team, "category": f.category, "taken_at": _iso(f.claimed_at),
                          "done_at": _iso(f.done_at), "due_at": _iso(f.due_at),
                          "within_sla": bool(f.done_at and f.done_at <= f.due_at), "customer_said": said,
                          "owner": _person(owner)},
            "response": _response(r), "customer": _customer(r)}
    return queue(session, ws, "follow_up_done", f"follow-up:{f.id}", f.done_at or f.created_at, data)


def loop_closed(session: Session, ws: Workspace, case: Case) -> bool:
    """A case's loop was closed: tell the receiver, so it can ask the customer again or update a CRM."""
    r = session.get(SurveyResponse, case.response_id)
    assert r is not None and case.closed_at is not None
    owner = session.get(Member, case.owner_id) if case.owner_id else None
    data = {"case": {"id": case.id, "team": case.team, "opened_at": _iso(case.opened_at),
                     "resolved_at": _iso(case.resolved_at), "loop_closed_at": _iso(case.loop_closed_at),
                     "how": case.loop_closed_how, "resolve_due_at": _iso(case.resolve_due_at),
                     "within_sla": bool(case.resolve_due_at and case.loop_closed_at
                                        and case.loop_closed_at <= case.resolve_due_at),
                     "root_cause": case.root_cause, "owner": _person(owner)},
            "response": _response(r), "customer": _customer(r)}
    subject = f"case:{case.id}:{int(case.closed_at.timestamp())}"  # a case reopened and closed again is a new event
    return queue(session, ws, "loop_closed", subject, case.closed_at, data)


def _claim_key(case: Case) -> str:
    return f"outgoing:loop_closed:{case.id}:{int(case.closed_at.timestamp())}"  # type: ignore[union-attr]


@due_job("outgoing")
def queue_loops_closed(engine: Engine, ws: Workspace, now: datetime) -> int:
    """Queue a `loop_closed` event for every loop closed in the last LOOKBACK not yet told."""
    if not wants(ws, "loop_closed"):
        return 0
    with session_scope(engine) as s:
        cases = list(s.exec(select(Case).where(Case.status == CaseStatus.CLOSED.value,
                                               Case.closed_at > now - LOOKBACK, Case.closed_at <= now)  # type: ignore[operator]
                            .order_by(Case.closed_at, Case.id)))
        keys = {_claim_key(c): c.id for c in cases}
        done = set(s.exec(select(JobClaim.key).where(JobClaim.key.in_(list(keys))))) if keys else set()  # type: ignore[attr-defined]
    queued = 0
    for key, cid in keys.items():
        if key in done:
            continue
        try:
            with session_scope(engine) as s:
                case = s.get(Case, cid)
                if case is None or case.closed_at is None or _claim_key(case) != key or not claim(s, key):
                    continue
                queued += loop_closed(s, ws, case)
        except Exception:  # one bad case never stops the rest
            log.exception("outgoing loop_closed event for case %s failed", cid)
    return queued
