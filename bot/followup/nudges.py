"""Follow-ups' own SLA: the owner is reminded before the due time and told when it has passed.

As with cases (bot/nudges/jobs.py), each nudge is claimed once (`job_claim`, keyed by follow-up and
kind: a follow-up's due time never moves) in the same transaction as the DM it queues, and the DM
waits for the owner's working hours in their own time zone. A late follow-up is never escalated to
managers: it is a courtesy, not a complaint.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine, String, cast, exists, literal
from sqlmodel import Session, select

from bot.cases.notify import member_targets
from bot.cases.sla import next_working_instant
from bot.config import Workspace
from bot.followup import messages as fm
from bot.followup.rules import Status
from bot.followup.service import load_view
from bot.machinery.queueing import enqueue
from bot.machinery.schedule import claim, due_job
from bot.nudges.jobs import person_zone
from storage.db import session_scope
from storage.models import FollowUp, JobClaim, Member

log = logging.getLogger(__name__)


def _key(fid: int, kind: str) -> str:
    return f"followup:{fid}:{kind}"


def _unclaimed(kind: str):  # type: ignore[no-untyped-def]
    key = literal("followup:") + cast(FollowUp.id, String) + literal(f":{kind}")
    return ~exists().where(JobClaim.key == key)


def _remind_before(ws: Workspace, team: str) -> timedelta:
    try:
        return ws.sla_for(team).remind_before
    except KeyError:
        return ws.sla.remind_before


def _due(session: Session, kind: str, now: datetime, lead: timedelta | None) -> list[int]:
    conds = [FollowUp.status == Status.IN_PROGRESS.value, FollowUp.owner_id.is_not(None), _unclaimed(kind)]  # type: ignore[union-attr]
    if lead is None:
        conds.append(FollowUp.due_at <= now)
    else:
        conds += [FollowUp.due_at > now, FollowUp.due_at <= now + lead]
    return list(session.exec(select(FollowUp.id).where(*conds).order_by(FollowUp.due_at, FollowUp.id)))


def _nudge(session: Session, ws: Workspace, fid: int, kind: str, now: datetime) -> bool:
    row = session.get(FollowUp, fid)
    if row is None or row.owner_id is None or row.status != Status.IN_PROGRESS.value:
        return False
    soon = kind == "soon"
    if soon and row.due_at - _remind_before(ws, row.team) > now:
        return False  # another team's lead time is longer; this one's has not come yet
    owner = session.get(Member, row.owner_id)
    if owner is None:
        return False
    at = next_working_instant(now, person_zone(owner, ws), ws.business_hours)
    if soon and at >= row.due_at:
        # They won't be at work before it is due: the overdue notice says it. Claimed, so it is not asked again.
        claim(session, _key(fid, kind))
        return False
    if not claim(session, _key(fid, kind)):
        return False
    msg = fm.nudge_message(load_view(session, ws, fid), now, overdue=not soon)
    for platform, user in member_targets(owner):
        enqueue(session, key=f"{platform}:{_key(fid, kind)}", platform=platform, action="dm", target=user,
                message=msg, not_before=at)
    return True


@due_job("follow_up_nudges")
def queue_follow_up_nudges(engine: Engine, ws: Workspace, now: datetime) -> int:
    """Owners' reminders before a follow-up is due, and a notice once it is overdue; each once."""
    longest = max((_remind_before(ws, t.key) for t in ws.teams), default=timedelta(0))
    sent = 0
    for kind, lead in (("soon", longest), ("overdue", None)):
        with session_scope(engine) as s:
            ids = _due(s, kind, now, lead)
        for fid in ids:
            try:
                with session_scope(engine) as s:
                    sent += _nudge(s, ws, fid, kind, now)
            except Exception:  # one bad follow-up never stops the rest
                log.exception("follow-up %s nudge %s failed", fid, kind)
    return sent
