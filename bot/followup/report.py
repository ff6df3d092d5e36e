"""Did closing the loop pay? Figures per group for `cxloop report loops` and the weekly digest.

Counted from the stored answers, cases and follow-ups (so they hold for answers imported by CSV too):

- detractor cases: cases opened in [since, until);
- loops closed: of those, cases whose loop was closed; closed within SLA: by the case's resolve-by time;
- answered again: of the loops closed, the customer answered again at or after the loop was closed
  (bot/followup/customers.py says who is the same customer);
- recovered: of those, the first such answer shows the customer won back
  (`customers.is_recovery`); recovery rate = recovered ÷ answered again;
- retention: of the cases whose loop was closed, and of those whose loop was not, the share whose
  customer answered again at all (at any time after the answer that opened the case);
- follow-ups: created in [since, until); taken; done.

Each case counts its customer once. `as_of` (the digest's end of week) ignores anything later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlmodel import Session, select

from bot.cases.resolved import CaseStatus
from bot.config import Workspace
from bot.followup.customers import Answer, Customers, is_recovery
from bot.reporting.scores import round_half_away
from storage.models import Case, FollowUp, SurveyResponse

ALL = "all"


def rate(part: int, whole: int) -> float | None:
    """`part` of `whole` as a percentage to one decimal (halves away from zero); None of nothing."""
    return float(round_half_away(Fraction(100 * part, whole), 1)) if whole else None


@dataclass
class Retention:
    customers: int = 0
    returned: int = 0

    @property
    def rate(self) -> float | None:
        return rate(self.returned, self.customers)

    def as_dict(self) -> dict[str, Any]:
        return {"customers": self.customers, "returned": self.returned, "rate": self.rate}


@dataclass
class LoopFigures:
    key: str
    detractor_cases: int = 0
    loops_closed: int = 0
    closed_within_sla: int = 0
    answered_again: int = 0
    recovered: int = 0
    closed: Retention = field(default_factory=Retention)
    not_closed: Retention = field(default_factory=Retention)
    follow_ups: int = 0
    follow_ups_taken: int = 0
    follow_ups_done: int = 0

    @property
    def recovery_rate(self) -> float | None:
        return rate(self.recovered, self.answered_again)

    @property
    def empty(self) -> bool:
        return not (self.detractor_cases or self.follow_ups)

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "detractor_cases": self.detractor_cases, "loops_closed": self.loops_closed,
                "closed_within_sla": self.closed_within_sla, "answered_again": self.answered_again,
                "recovered": self.recovered, "recovery_rate": self.recovery_rate,
                "retention": {"loop_closed": self.closed.as_dict(), "loop_not_closed": self.not_closed.as_dict()},
                "follow_ups": {"new": self.follow_ups, "taken": self.follow_ups_taken, "done": self.follow_ups_done}}


def _between(col: Any, since: datetime | None, until: datetime | None) -> list[Any]:
    conds = []
    if since is not None:
        conds.append(col >= since)
    if until is not None:
        conds.append(col < until)
    return conds


def loop_figures(session: Session, ws: Workspace, *, since: datetime | None = None, until: datetime | None = None,
                 by_team: bool = False, team: str | None = None, as_of: datetime | None = None) -> list[LoopFigures]:
    """The figures per team (`by_team`), or one group "all"; `team` keeps one team's."""
    groups: dict[str, LoopFigures] = {}

    def group(t: str | None) -> LoopFigures:
        key = (t or ws.default_team) if by_team or team else ALL
        return groups.setdefault(key, LoopFigures(key=key))

    q = select(Case, SurveyResponse).join(SurveyResponse, SurveyResponse.id == Case.response_id).where(
        *_between(Case.opened_at, since, until))
    if team is not None:
        q = q.where(Case.team == team)
    rows = session.exec(q.order_by(Case.id)).all()
    seeds = {r.id: Answer.of(r) for _, r in rows}
    who = Customers(session, seeds.values(), before=as_of)
    for case, r in rows:
        g = group(case.team)
        g.detractor_cases += 1
        seed = seeds[r.id]
        later = who.later(seed, after=r.responded_at)
        closed_at = case.loop_closed_at if case.status == CaseStatus.CLOSED.value else None
        if closed_at is not None and as_of is not None and closed_at >= as_of:
            closed_at = None
        if closed_at is None:
            g.not_closed.customers += 1
            g.not_closed.returned += bool(later)
            continue
        g.loops_closed += 1
        g.closed.customers += 1
        g.closed.returned += bool(later)
        if case.resolve_due_at is not None and closed_at <= case.resolve_due_at:
            g.closed_within_sla += 1
        after = [a for a, _ in later if a.responded_at >= closed_at]
        if after:
            g.answered_again += 1
            g.recovered += is_recovery(ws, seed, after[0])
    fq = select(FollowUp).where(*_between(FollowUp.created_at, since, until))
    if team is not None:
        fq = fq.where(FollowUp.team == team)
    for f in session.exec(fq):
        g = group(f.team)
        g.follow_ups += 1
        g.follow_ups_taken += f.claimed_at is not None and (as_of is None or f.claimed_at < as_of)
        g.follow_ups_done += f.done_at is not None and (as_of is None or f.done_at < as_of)
    order = {t.key: i for i, t in enumerate(ws.teams)}
    return sorted(groups.values(), key=lambda g: (order.get(g.key, len(order)), g.key)) or (
        [LoopFigures(key=team or ALL)] if not by_team else [])


def report_document(groups: list[LoopFigures], *, since: str | None, until: str | None,
                    by: str | None) -> dict[str, Any]:
    """`cxloop report loops --json`."""
    return {"since": since, "until": until, "by": by, "groups": [g.as_dict() for g in groups]}
