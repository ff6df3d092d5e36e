"""NPS, CSAT and CES, counted in SQL and scored exactly as DESIGN.md defines them."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any, Literal

from sqlalchemy import Engine, and_, case, func, select

from storage.models import SurveyResponse

GroupBy = Literal["team", "touchpoint", "survey"]
NO_GROUP = "all"
UNROUTED = "(none)"


def round_half_away(value: Fraction, places: int) -> float | int:
    """Round as a spreadsheet does: halves away from zero (82.5 -> 83, -2.25 -> -2.3)."""
    scale = 10**places
    scaled = abs(value) * scale
    whole = int(scaled + Fraction(1, 2))  # floor(x + 1/2) for x >= 0
    signed = whole if value >= 0 else -whole
    return signed if places == 0 else signed / scale


@dataclass(frozen=True)
class NpsScore:
    responses: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0

    @property
    def score(self) -> float | None:
        """% promoters - % detractors, one decimal; None with no responses."""
        if not self.responses:
            return None
        return float(round_half_away(Fraction(100 * (self.promoters - self.detractors), self.responses), 1))

    def as_dict(self) -> dict[str, Any]:
        return {"responses": self.responses, "promoters": self.promoters, "passives": self.passives,
                "detractors": self.detractors, "score": self.score}


@dataclass(frozen=True)
class CsatScore:
    responses: int = 0
    satisfied: int = 0

    @property
    def score(self) -> int | None:
        """Share of 4 and 5 answers x 100, a whole number, halves up; None with no responses."""
        if not self.responses:
            return None
        return int(round_half_away(Fraction(100 * self.satisfied, self.responses), 0))

    def as_dict(self) -> dict[str, Any]:
        return {"responses": self.responses, "satisfied": self.satisfied, "score": self.score}


@dataclass(frozen=True)
class CesScore:
    responses: int = 0
    agree: int = 0

    @property
    def score(self) -> float | None:
        """Share of agree (4-5) answers as a percentage, one decimal; None with no responses."""
        if not self.responses:
            return None
        return float(round_half_away(Fraction(100 * self.agree, self.responses), 1))

    def as_dict(self) -> dict[str, Any]:
        return {"responses": self.responses, "agree": self.agree, "score": self.score}


@dataclass(frozen=True)
class ScoreGroup:
    key: str
    nps: NpsScore = field(default_factory=NpsScore)
    csat: CsatScore = field(default_factory=CsatScore)
    ces: CesScore = field(default_factory=CesScore)

    @property
    def responses(self) -> int:
        return self.nps.responses + self.csat.responses + self.ces.responses

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "nps": self.nps.as_dict(), "csat": self.csat.as_dict(), "ces": self.ces.as_dict()}


def _count_if(cond: Any) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def compute_scores(engine: Engine, *, since: datetime | None = None, until: datetime | None = None,
                   by: GroupBy | None = None, team: str | None = None,
                   touchpoint: str | None = None, teams: Collection[str] | None = None) -> list[ScoreGroup]:
    """Scores per group; `since` inclusive, `until` exclusive, on responded_at. One pass in SQL.

    `teams`: only the answers of these teams (a viewer's own); None is every answer.
    """
    r = SurveyResponse.__table__.c
    kind, score = r.survey, r.score
    columns = [
        kind.label("survey"),
        func.count().label("responses"),
        # NPS: promoters 9-10, detractors 0-6. CSAT: satisfied 4-5. CES: agree 4-5.
        _count_if(score >= 9).label("high9"),
        _count_if(score <= 6).label("low6"),
        _count_if(score >= 4).label("high4"),
    ]
    group_col = {"team": r.team, "touchpoint": r.touchpoint, "survey": r.survey}.get(by or "")
    if by and group_col is None:
        raise ValueError(f"cannot group by {by!r}; use team, touchpoint or survey")
    if group_col is not None and by != "survey":
        columns.insert(0, group_col.label("grp"))
    conds = []
    if since is not None:
        conds.append(r.responded_at >= since)
    if until is not None:
        conds.append(r.responded_at < until)
    if team is not None:
        conds.append(r.team == team)
    if touchpoint is not None:
        conds.append(r.touchpoint == touchpoint)
    if teams is not None:
        conds.append(r.team.in_(list(teams)))
    stmt = select(*columns).where(and_(True, *conds))
    stmt = stmt.group_by(*( [group_col, kind] if group_col is not None and by != "survey" else [kind]))
    groups: dict[str, dict[str, Any]] = {}
    # A read: never take SQLite's write lock, even when handed a writing session's bind.
    with engine.execution_options(cx_write=False).connect() as conn:
        for row in conn.execute(stmt):
            m = row._mapping
            if by == "survey":
                key = m["survey"]
            elif by:
                key = m["grp"] if m["grp"] is not None else UNROUTED
            else:
                key = NO_GROUP
            g = groups.setdefault(key, {})
            n = int(m["responses"])
            if m["survey"] == "nps":
                p, d = int(m["high9"]), int(m["low6"])
                g["nps"] = NpsScore(responses=n, promoters=p, passives=n - p - d, detractors=d)
            elif m["survey"] == "csat":
                g["csat"] = CsatScore(responses=n, satisfied=int(m["high4"]))
            elif m["survey"] == "ces":
                g["ces"] = CesScore(responses=n, agree=int(m["high4"]))
    if not by and not groups:
        groups[NO_GROUP] = {}
    return [ScoreGroup(key=k, **v) for k, v in sorted(groups.items())]


def scores_document(groups: list[ScoreGroup], *, since: str | None, until: str | None,
                    by: str | None) -> dict[str, Any]:
    """The `cxloop scores --json` object."""
    return {"since": since, "until": until, "by": by, "groups": [g.as_dict() for g in groups]}


def delta(now: float | int | None, before: float | int | None) -> float | None:
    """Change between two scores, or None when either is missing."""
    if now is None or before is None:
        return None
    return round(now - before, 1)
