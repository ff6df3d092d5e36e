"""SLA follow-through: owner reminders, overdue notices, escalations and unclaimed prompts.

Each nudge is claimed by inserting a `case_nudge` row (unique per case, kind and due time) in the
same transaction as the messages it queues; a re-run or a second replica finds the row and skips.
A message to a person waits (in the outbox) for their working hours in their own time zone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, and_, exists, or_
from sqlmodel import Session, select

from bot.nudges import messages as nm
from bot.cases.service import CaseView, load_views
from bot.config import Sla, Workspace
from bot.chat.messages import Message
from bot.cases.notify import alert_key, channel_targets, member_targets
from bot.machinery.queueing import Queued, enqueue_many
from bot.cases.resolved import CaseStatus
from bot.people.roster import person_ref, team_managers
from bot.machinery.schedule import due_job
from bot.cases.sla import next_working_instant
from storage.db import insert_missing, session_scope
from storage.models import Case, CaseEvent, CaseNudge, Member
from storage.types import utcnow

log = logging.getLogger(__name__)

BATCH = 1000


def person_zone(member: Member, ws: Workspace) -> ZoneInfo:
    if member.tz:
        try:
            return ZoneInfo(member.tz)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ws.zone


def _sla(ws: Workspace, team: str) -> Sla:
    return ws.sla_for(team) if team in {t.key for t in ws.teams} else ws.sla


class _Batch:
    """One batch of due cases: loaded together, claimed in one statement, queued in one statement.

    Each case's messages are built first (a case whose message cannot be built is left unclaimed,
    to be tried again, and never stops the rest); then the claims are inserted with
    `ON CONFLICT DO NOTHING`, and only the cases this batch claimed get their messages queued, in
    the same transaction: claimed and queued together, or neither.
    """

    def __init__(self, s: Session, ws: Workspace, now: datetime, ids: list[int]):
        self.s, self.ws, self.now = s, ws, now
        self.views = load_views(s, ws, ids)
        self._working_at: dict[str, datetime] = {}
        self.plans: list[tuple[int, str, datetime, list[Queued], Callable[[], Callable[[], list[Queued]]] | None]] = []

    def members(self, ids: set[int | None]) -> dict[int, Member]:
        ids.discard(None)
        if not ids:
            return {}
        return {m.id: m for m in self.s.exec(select(Member).where(Member.id.in_(ids)))}  # type: ignore[union-attr,misc]

    def working_at(self, member: Member) -> datetime:
        """When the person is next at work (now, if they are): cached per time zone."""
        zone = person_zone(member, self.ws)
        if zone.key not in self._working_at:
            self._working_at[zone.key] = next_working_instant(self.now, zone, self.ws.business_hours)
        return self._working_at[zone.key]

    def to_person(self, member: Member, key: str, message: Message, case_id: int) -> list[Queued]:
        """DMs that wait for the person's working hours."""
        at = self.working_at(member)
        return [Queued(key=f"{platform}:{key}", platform=platform, action="dm", target=user, message=message,
                       case_id=case_id, not_before=at) for platform, user in member_targets(member)]

    def plan(self, cid: int, kind: str, due_at: datetime, build: Callable[[], list[Queued]],
             record: Callable[[], Callable[[], list[Queued]]] | None = None) -> None:
        """Claim (cid, kind, due_at) and queue what `build` returns. Once claimed, `record` adds rows
        to the session and returns what to queue once they are flushed (and so have their ids)."""
        try:
            queued = build()
        except Exception:  # one bad case never stops the rest
            log.exception("nudge %s for case %s failed", kind, cid)
            return
        self.plans.append((cid, kind, due_at, queued, record))

    def commit(self) -> int:
        """Claim every planned nudge not claimed yet and queue the messages of those claimed here."""
        if not self.plans:
            return 0
        claimed = set(insert_missing(
            self.s, CaseNudge.__table__,  # type: ignore[arg-type]
            [{"case_id": cid, "kind": kind, "due_at": due_at, "at": utcnow()} for cid, kind, due_at, _, _ in self.plans],
            unique=["case_id", "kind", "due_at"], returning=["case_id", "kind"]))  # type: ignore[misc]
        mine = [p for p in self.plans if (p[0], p[1]) in claimed]
        later = [record() for *_, record in mine if record is not None]
        if later:
            self.s.flush()
        enqueue_many(self.s, [q for *_, queued, _ in mine for q in queued] + [q for f in later for q in f()])
        return sum(1 for *_, queued, record in mine if queued or record is not None)


def _in_batches(engine: Engine, ws: Workspace, now: datetime, ids: list[int], what: str,
                fill: Callable[[_Batch], None]) -> int:
    """Run `fill` + commit over `ids` a batch at a time. If a whole batch fails (a database error),
    its cases are retried one by one so that one bad case never holds back the others."""
    def run(part: list[int]) -> int:
        with session_scope(engine) as s:
            b = _Batch(s, ws, now, part)
            fill(b)
            return b.commit()

    sent = 0
    for chunk in range(0, len(ids), BATCH):
        part = ids[chunk:chunk + BATCH]
        try:
            sent += run(part)
            continue
        except Exception:
            if len(part) == 1:
                log.exception("%s for case %s failed", what, part[0])
                continue
            log.exception("%s: a batch of %d failed; trying its cases one by one", what, len(part))
        for cid in part:
            try:
                sent += run([cid])
            except Exception:
                log.exception("%s for case %s failed", what, cid)
    return sent


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


def _due_at(case: Case, what: str) -> datetime:
    due_at = case.respond_due_at if what == "respond" else case.resolve_due_at
    assert due_at is not None
    return due_at


def _owner_nudges(engine: Engine, ws: Workspace, now: datetime) -> int:
    sent = 0
    for what in ("respond", "resolve"):
        for kind, lead in ((f"{what}_soon", "lead"), (f"{what}_overdue", None)):
            with session_scope(engine) as s:
                # The lead time is per team; query with the longest and check each case's own below.
                longest = max((ws.sla_for(t.key).remind_before for t in ws.teams), default=timedelta(0))
                ids = _due_cases(s, kind, what, now, longest if lead else None)
            sent += _in_batches(engine, ws, now, ids, kind,
                                lambda b, kind=kind, what=what: _fill_owner(b, kind, what))  # type: ignore[misc]
    return sent


def _fill_owner(b: _Batch, kind: str, what: str) -> None:
    soon = kind.endswith("_soon")
    owners = b.members({v.case.owner_id for v in b.views.values()})
    for cid, view in b.views.items():
        due_at = _due_at(view.case, what)
        if soon and due_at - _sla(b.ws, view.case.team).remind_before > b.now:
            continue
        owner = owners.get(view.case.owner_id)  # type: ignore[arg-type]
        if owner is None:
            continue

        def build(view: CaseView = view, owner: Member = owner, due_at: datetime = due_at) -> list[Queued]:
            if soon and b.working_at(owner) >= due_at:
                # They won't be at work before it is due: the overdue notice will say it.
                return []
            msg = nm.owner_nudge(view, what, due_at, b.now, overdue=not soon)
            return b.to_person(owner, f"case:{view.case.id}:{kind}:{int(due_at.timestamp())}", msg, cid)

        b.plan(cid, kind, due_at, build)


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
        sent += _in_batches(engine, ws, now, ids, kind,
                            lambda b, kind=kind, what=what: _fill_escalations(b, kind, what))  # type: ignore[misc]
    return sent


def _fill_escalations(b: _Batch, kind: str, what: str) -> None:
    managers = {t: team_managers(b.s, t) for t in {v.case.team for v in b.views.values()}}
    for cid, view in b.views.items():
        due_at = _due_at(view.case, what)
        if due_at + _sla(b.ws, view.case.team).escalate_after > b.now:
            continue
        told = managers[view.case.team]

        def build(view: CaseView = view, told: list[Member] = told, due_at: datetime = due_at) -> list[Queued]:
            msg = nm.escalation(view, what, due_at, b.now)
            return [q for m in told
                    for q in b.to_person(m, f"case:{view.case.id}:{kind}:{int(due_at.timestamp())}:to:{m.id}", msg, cid)]

        def record(cid: int = cid, team: str = view.case.team, told: list[Member] = told,
                   due_at: datetime = due_at) -> Callable[[], list[Queued]]:
            ev = CaseEvent(case_id=cid, at=b.now, kind="escalated",
                           detail={"what": what, "due_at": due_at.isoformat(), "managers": [m.id for m in told]})
            b.s.add(ev)
            note = nm.escalation_note(what, due_at, [person_ref(m) for m in told])
            # The note in the alert's thread is that event's, under the key every history note has.
            return lambda: [Queued(key=f"{alert_key(platform, cid)}:event:{ev.id}", platform=platform, action="post",
                                   target=channel, message=note, thread_key=alert_key(platform, cid), case_id=cid)
                            for platform, channel in channel_targets(b.ws, team)]

        b.plan(cid, kind, due_at, build, record)


def _unclaimed(engine: Engine, ws: Workspace, now: datetime) -> int:
    shortest = min((ws.sla_for(t.key).unclaimed_after for t in ws.teams), default=timedelta(hours=1))
    with session_scope(engine) as s:
        ids = list(s.execute(select(Case.id).where(
            Case.status == CaseStatus.OPEN.value, Case.owner_id.is_(None), Case.opened_at <= now - shortest,
            _not_claimed("unclaimed", Case.opened_at)).order_by(Case.opened_at)).scalars())
    return _in_batches(engine, ws, now, ids, "unclaimed prompt", _fill_unclaimed)


def _fill_unclaimed(b: _Batch) -> None:
    for cid, view in b.views.items():
        case = view.case
        if case.opened_at + _sla(b.ws, case.team).unclaimed_after > b.now:
            continue

        def build(view: CaseView = view) -> list[Queued]:
            msg = nm.unclaimed_prompt(view, b.now)
            return [Queued(key=f"{alert_key(platform, cid)}:unclaimed", platform=platform, action="post",
                           target=channel, message=msg, thread_key=alert_key(platform, cid), case_id=cid)
                    for platform, channel in channel_targets(b.ws, view.case.team)]

        b.plan(cid, "unclaimed", case.opened_at, build)


@due_job("nudges")
def queue_due_nudges(engine: Engine, ws: Workspace, now: datetime) -> int:
    """Queue every reminder, overdue notice, escalation and unclaimed prompt due at `now`."""
    return _owner_nudges(engine, ws, now) + _escalations(engine, ws, now) + _unclaimed(engine, ws, now)
