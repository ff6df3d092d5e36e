"""SLA follow-through: owner reminders, overdue notices, escalations and unclaimed prompts.

Each nudge is claimed by inserting a `case_nudge` row (unique per case, kind and due time) in the
same transaction as the messages it queues; a re-run or a second replica finds the row and skips.
A message to a person waits (in the outbox) for their working hours in their own time zone.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, and_, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot import nudge_messages as nm
from bot.cases import load_view
from bot.config import Workspace
from bot.notify import alert_key, channel_targets, member_targets
from bot.outbox import enqueue
from bot.resolved import CaseStatus
from bot.roster import person_ref, team_managers
from bot.schedule import due_job
from bot.sla import next_working_instant
from storage.db import session_scope
from storage.models import Case, CaseEvent, CaseNudge, Member

log = logging.getLogger(__name__)

BATCH = 500


def person_zone(member: Member, ws: Workspace) -> ZoneInfo:
    if member.tz:
        try:
            return ZoneInfo(member.tz)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ws.zone


def _to_person(session: Session, ws: Workspace, member: Member, key: str, message, now: datetime,  # type: ignore[no-untyped-def]
               case_id: int) -> None:
    """Queue a DM that waits for the person's working hours."""
    at = next_working_instant(now, person_zone(member, ws), ws.business_hours)
    for platform, user in member_targets(member):
        enqueue(session, key=f"{platform}:{key}", platform=platform, action="dm", target=user, message=message,
                case_id=case_id, not_before=at)


def _claim(session: Session, case_id: int, kind: str, due_at: datetime) -> bool:
    try:
        with session.begin_nested():
            session.add(CaseNudge(case_id=case_id, kind=kind, due_at=due_at))
    except IntegrityError:
        return False
    return True


def _not_claimed(kind: str, due_col):  # type: ignore[no-untyped-def]
    return ~exists().where(CaseNudge.case_id == Case.id, CaseNudge.kind == kind, CaseNudge.due_at == due_col)


def _due_cases(session: Session, kind: str, what: str, at: datetime, lead: timedelta | None) -> list[int]:
    """Ids of cases with `kind` due at `at` that no one has claimed yet."""
    due_col = Case.respond_due_at if what == "respond" else Case.resolve_due_at
    conds = [Case.status == CaseStatus.IN_PROGRESS.value, Case.owner_id.is_not(None), due_col.is_not(None),
             _not_claimed(kind, due_col), or_(Case.snoozed_until.is_(None), Case.snoozed_until <= at)]
    if what == "respond":
        conds.append(Case.first_response_at.is_(None))
    if lead is not None:  # reminder: due within `lead` but not yet passed
        conds += [due_col <= at + lead, due_col > at]
    elif kind.endswith("_overdue"):
        conds.append(due_col <= at)
    return list(session.execute(select(Case.id).where(and_(*conds)).order_by(due_col, Case.id)).scalars())


def _owner_nudges(engine: Engine, ws: Workspace, now: datetime) -> int:
    sent = 0
    for what in ("respond", "resolve"):
        for kind, lead in ((f"{what}_soon", "lead"), (f"{what}_overdue", None)):
            with session_scope(engine) as s:
                # The lead time is per team; query with the longest and check each case's own below.
                longest = max((ws.sla_for(t.key).remind_before for t in ws.teams), default=timedelta(0))
                ids = _due_cases(s, kind, what, now, longest if lead else None)
            for chunk in range(0, len(ids), BATCH):
                sent += _queue_owner_batch(engine, ws, now, ids[chunk:chunk + BATCH], kind, what)
    return sent


def _queue_owner_batch(engine: Engine, ws: Workspace, now: datetime, ids: list[int], kind: str, what: str) -> int:
    sent = 0
    with session_scope(engine) as s:
        for cid in ids:
            try:
                with s.begin_nested():
                    case = s.get(Case, cid)
                    assert case is not None
                    due_at = case.respond_due_at if what == "respond" else case.resolve_due_at
                    assert due_at is not None
                    sla = ws.sla_for(case.team) if case.team in {t.key for t in ws.teams} else ws.sla
                    if kind.endswith("_soon") and due_at - sla.remind_before > now:
                        continue
                    if not _claim(s, cid, kind, due_at):
                        continue
                    owner = s.get(Member, case.owner_id)
                    if owner is None:
                        continue
                    if kind.endswith("_soon") and next_working_instant(now, person_zone(owner, ws),
                                                                       ws.business_hours) >= due_at:
                        # They won't be at work before it is due: the overdue notice will say it.
                        continue
                    view = load_view(s, ws, cid)
                    msg = nm.owner_nudge(view, what, due_at, now, overdue=kind.endswith("_overdue"))
                    _to_person(s, ws, owner, f"case:{cid}:{kind}:{int(due_at.timestamp())}", msg, now, cid)
                    sent += 1
            except Exception:  # one bad case never stops the rest
                log.exception("nudge %s for case %s failed", kind, cid)
    return sent


def _escalations(engine: Engine, ws: Workspace, now: datetime) -> int:
    sent = 0
    for what in ("respond", "resolve"):
        kind = f"{what}_escalated"
        due_col = Case.respond_due_at if what == "respond" else Case.resolve_due_at
        shortest = min((ws.sla_for(t.key).escalate_after for t in ws.teams), default=timedelta(0))
        with session_scope(engine) as s:
            conds = [Case.status.in_([CaseStatus.IN_PROGRESS.value, CaseStatus.OPEN.value]),
                     due_col.is_not(None), due_col <= now - shortest, _not_claimed(kind, due_col),
                     or_(Case.snoozed_until.is_(None), Case.snoozed_until <= now)]
            if what == "respond":
                conds.append(Case.first_response_at.is_(None))
            ids = list(s.execute(select(Case.id).where(and_(*conds)).order_by(due_col, Case.id)).scalars())
        for chunk in range(0, len(ids), BATCH):
            with session_scope(engine) as s:
                for cid in ids[chunk:chunk + BATCH]:
                    try:
                        with s.begin_nested():
                            sent += _escalate_one(s, ws, now, cid, kind, what)
                    except Exception:
                        log.exception("escalation %s for case %s failed", kind, cid)
    return sent


def _escalate_one(s: Session, ws: Workspace, now: datetime, cid: int, kind: str, what: str) -> int:
    case = s.get(Case, cid)
    assert case is not None
    due_at = case.respond_due_at if what == "respond" else case.resolve_due_at
    assert due_at is not None
    sla = ws.sla_for(case.team) if case.team in {t.key for t in ws.teams} else ws.sla
    if due_at + sla.escalate_after > now or not _claim(s, cid, kind, due_at):
        return 0
    managers = team_managers(s, case.team)
    view = load_view(s, ws, cid)
    msg = nm.escalation(view, what, due_at, now)
    for m in managers:
        _to_person(s, ws, m, f"case:{cid}:{kind}:{int(due_at.timestamp())}:to:{m.id}", msg, now, cid)
    ev = CaseEvent(case_id=cid, at=now, kind="escalated", detail={"what": what, "due_at": due_at.isoformat(),
                                                                    "managers": [m.id for m in managers]})
    s.add(ev)
    s.flush()
    note = nm.escalation_note(what, due_at, [person_ref(m) for m in managers])
    for platform, channel in channel_targets(ws, case.team):
        key = alert_key(platform, cid)
        enqueue(s, key=f"{key}:event:{ev.id}", platform=platform, action="post", target=channel, message=note,
                thread_key=key, case_id=cid)
    return 1


def _unclaimed(engine: Engine, ws: Workspace, now: datetime) -> int:
    sent = 0
    shortest = min((ws.sla_for(t.key).unclaimed_after for t in ws.teams), default=timedelta(hours=1))
    with session_scope(engine) as s:
        ids = list(s.execute(select(Case.id).where(
            Case.status == CaseStatus.OPEN.value, Case.owner_id.is_(None), Case.opened_at <= now - shortest,
            _not_claimed("unclaimed", Case.opened_at)).order_by(Case.opened_at)).scalars())
    for chunk in range(0, len(ids), BATCH):
        with session_scope(engine) as s:
            for cid in ids[chunk:chunk + BATCH]:
                try:
                    with s.begin_nested():
                        case = s.get(Case, cid)
                        assert case is not None
                        sla = ws.sla_for(case.team) if case.team in {t.key for t in ws.teams} else ws.sla
                        if case.opened_at + sla.unclaimed_after > now or not _claim(s, cid, "unclaimed", case.opened_at):
                            continue
                        msg = nm.unclaimed_prompt(load_view(s, ws, cid), now)
                        for platform, channel in channel_targets(ws, case.team):
                            key = alert_key(platform, cid)
                            enqueue(s, key=f"{key}:unclaimed", platform=platform, action="post", target=channel,
                                    message=msg, thread_key=key, case_id=cid)
                        sent += 1
                except Exception:
                    log.exception("unclaimed prompt for case %s failed", cid)
    return sent


@due_job("nudges")
def queue_due_nudges(engine: Engine, ws: Workspace, now: datetime) -> int:
    """Queue every reminder, overdue notice, escalation and unclaimed prompt due at `now`."""
    return _owner_nudges(engine, ws, now) + _escalations(engine, ws, now) + _unclaimed(engine, ws, now)
