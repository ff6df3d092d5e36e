"""Plan actions nudge their owners as case steps do: due soon, overdue, then the team's managers.

The lead times are the team's SLA settings (`remind_before`, `escalate_after`); a DM waits for the
person's working hours; a snoozed action is left alone until its snooze ends; a "due soon" reminder
that could only arrive after the due time is skipped (the overdue notice says it). Each nudge is
claimed in `job_claim` (`improvement:action:{id}:{kind}:{due}`) in the same transaction as what it
queues, so a re-run, a restart or a second replica never sends one twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine, or_
from sqlmodel import Session, select

from bot.cases.sla import next_working_instant
from bot.config import Sla, Workspace
from bot.improvement import checkin_messages as cim
from bot.improvement import notify
from bot.improvement.enums import Stage
from bot.improvement.service import get, load_view, record
from bot.machinery.schedule import claim
from bot.nudges.jobs import person_zone
from bot.people.roster import person_ref, team_managers
from storage.db import session_scope
from storage.models import Improvement, ImprovementAction, Member

log = logging.getLogger(__name__)

WORKING = [Stage.PLAN.value, Stage.DO.value, Stage.CHECK.value, Stage.ACT.value]


def _sla(ws: Workspace, team: str) -> Sla:
    return ws.sla_for(team) if team in {t.key for t in ws.teams} else ws.sla


def _due(engine: Engine, ws: Workspace, now: datetime) -> list[int]:
    longest = max((ws.sla_for(t.key).remind_before for t in ws.teams), default=ws.sla.remind_before)
    a = ImprovementAction
    with Session(engine) as s:
        return list(s.exec(select(a.id).join(Improvement, Improvement.id == a.improvement_id).where(
            a.done_at.is_(None), a.due_at <= now + longest, Improvement.stage.in_(WORKING),  # type: ignore[union-attr,attr-defined]
            or_(a.snoozed_until.is_(None), a.snoozed_until <= now)).order_by(a.due_at, a.id)))  # type: ignore[union-attr,operator]


def _one(engine: Engine, ws: Workspace, action_id: int, now: datetime) -> int:
    with session_scope(engine) as s:
        act = s.get(ImprovementAction, action_id)
        if act is None or act.done_at is not None:
            return 0
        imp = get(s, act.improvement_id)
        sla = _sla(ws, imp.team)
        owner = s.get(Member, act.owner_id)
        due = int(act.due_at.timestamp())
        sent = 0
        key = f"improvement:action:{act.id}"
        if owner is not None and act.due_at - sla.remind_before <= now < act.due_at \
                and claim(s, f"{key}:soon:{due}"):
            working = next_working_instant(now, person_zone(owner, ws), ws.business_hours)
            if working < act.due_at:  # else they won't be at work before it is due: the overdue notice says it
                notify.to_people(s, ws, [owner], f"{key}:soon:{due}",
                                 cim.action_nudge(load_view(s, ws, imp.id), act, now, overdue=False), now)  # type: ignore[arg-type]
                sent += 1
        if owner is not None and now >= act.due_at and claim(s, f"{key}:overdue:{due}"):
            notify.to_people(s, ws, [owner], f"{key}:overdue:{due}",
                             cim.action_nudge(load_view(s, ws, imp.id), act, now, overdue=True), now)  # type: ignore[arg-type]
            sent += 1
        if now >= act.due_at + sla.escalate_after and claim(s, f"{key}:escalated:{due}"):
            told = team_managers(s, imp.team)
            view = load_view(s, ws, imp.id)  # type: ignore[arg-type]
            notify.to_people(s, ws, told, f"{key}:escalated:{due}",
                             cim.action_escalation(view, act, person_ref(owner) if owner else None, now), now)
            ev = record(s, imp, "escalated", None, now, action=act.id, managers=[m.id for m in told])
            notify.in_thread(s, ws, imp, f"event:{ev.id}", cim.escalation_note(act, [person_ref(m) for m in told]))
            sent += 1
        return sent


def action_nudges(engine: Engine, ws: Workspace, now: datetime) -> int:
    """Queue every plan-action reminder, overdue notice and escalation due at `now`."""
    sent = 0
    for action_id in _due(engine, ws, now):
        try:
            sent += _one(engine, ws, action_id, now)
        except Exception:  # one bad action never stops the others; its claims were rolled back
            log.exception("nudging plan action %s failed", action_id)
    return sent

