"""NPS, CSAT and CES, counted in SQL and scored exactly as DESIGN.md defines them.

One query (`scores_query`), run either through SQLAlchemy on any engine (`compute_scores`) or, for
`cxloop scores` on a SQLite file already at head, through the standard library's sqlite3
(`compute_scores_sqlite`): importing SQLAlchemy alone costs more than that command's start-up budget
(bench/bench_cli_start.py). So this module imports SQLAlchemy only inside `compute_scores`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal

from bot.intake.cutoffs import DETRACTOR_MAX, PROMOTER_MIN, SATISFIED_MIN

if TYPE_CHECKING:
    import sqlite3

    from sqlalchemy import Engine

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


GROUP_COLUMNS = {"team": "team", "touchpoint": "touchpoint", "survey": "survey"}


def scores_query(*, since: datetime | None = None, until: datetime | None = None, by: GroupBy | None = None,
                 team: str | None = None, touchpoint: str | None = None,
                 teams: Collection[str] | None = None) -> tuple[str, dict[str, Any]]:
    """The one scores query, as SQL both databases read, and its named parameters.

    Each row is ([group,] survey, responses, high9, low6, high4): NPS promoters are 9-10 and detractors
    0-6; CSAT satisfied and CES agree are 4-5. `since` is inclusive and `until` exclusive. `teams`:
    only the answers of these teams (a viewer's own); None is every answer.
    """
    group = GROUP_COLUMNS.get(by or "")
    if by and group is None:
        raise ValueError(f"cannot group by {by!r}; use team, touchpoint or survey")
    grouped = group is not None and by != "survey"
    conds, params = [], {}
    for name, value, sql in (("since", since, "responded_at >= :since"), ("until", until, "responded_at < :until"),
                             ("team", team, "team = :team"), ("touchpoint", touchpoint, "touchpoint = :touchpoint")):
        if value is not None:
            conds.append(sql)
            params[name] = value
    if teams is not None:
        names = [f"team_{i}" for i in range(len(teams))]
        conds.append(f"team IN ({', '.join(':' + n for n in names)})" if names else "1 = 0")
        params.update(zip(names, sorted(teams)))
    sql = (f"SELECT {f'{group} AS grp, ' if grouped else ''}survey, count(*) AS responses, "
           f"coalesce(sum(CASE WHEN score >= {PROMOTER_MIN} THEN 1 ELSE 0 END), 0) AS high9, "
           f"coalesce(sum(CASE WHEN score <= {DETRACTOR_MAX} THEN 1 ELSE 0 END), 0) AS low6, "
           f"coalesce(sum(CASE WHEN score >= {SATISFIED_MIN} THEN 1 ELSE 0 END), 0) AS high4 "
           f"FROM survey_response{' WHERE ' + ' AND '.join(conds) if conds else ''} "
           f"GROUP BY {f'{group}, ' if grouped else ''}survey")
    return sql, params


def score_groups(rows: Iterable[Sequence[Any]], by: str | None) -> list[ScoreGroup]:
    """ScoreGroups from rows of ([group,] survey, responses, high9, low6, high4), as scores_query and
    count_columns count them; `by` names the group (None: one group, "survey": by survey kind)."""
    grouped = by is not None and by != "survey"
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        grp, (kind, n, high9, low6, high4) = (row[0], row[1:]) if grouped else (None, row)
        if by == "survey":
            key = kind
        elif by:
            key = grp if grp is not None else UNROUTED
        else:
            key = NO_GROUP
        g = groups.setdefault(key, {})
        n, high9, low6, high4 = int(n), int(high9), int(low6), int(high4)
        if kind == "nps":
            g["nps"] = NpsScore(responses=n, promoters=high9, passives=n - high9 - low6, detractors=low6)
        elif kind == "csat":
            g["csat"] = CsatScore(responses=n, satisfied=high4)
        elif kind == "ces":
            g["ces"] = CesScore(responses=n, agree=high4)
    if not by and not groups:
        groups[NO_GROUP] = {}
    return [ScoreGroup(key=k, **v) for k, v in sorted(groups.items())]


def compute_scores(engine: Engine, *, since: datetime | None = None, until: datetime | None = None,
                   by: GroupBy | None = None, team: str | None = None,
                   touchpoint: str | None = None, teams: Collection[str] | None = None) -> list[ScoreGroup]:
    """Scores per group; `since` inclusive, `until` exclusive, on responded_at. One pass in SQL.

    `teams`: only the answers of these teams (a viewer's own); None is every answer.
    """
    from sqlalchemy import bindparam, text

    from storage.types import UTCDateTime

    sql, params = scores_query(since=since, until=until, by=by, team=team, touchpoint=touchpoint, teams=teams)
    stmt = text(sql).bindparams(*(bindparam(n, type_=UTCDateTime()) for n in ("since", "until") if n in params))
    # A read: never take SQLite's write lock, even when handed a writing session's bind.
    with engine.execution_options(cx_write=False).connect() as conn:
        return score_groups(conn.execute(stmt, params), by)


def count_columns(score: Any) -> list[Any]:
    """The counts scores_query makes, as SQLAlchemy columns over `score`, for queries of other shapes
    (scores by theme): high9 (NPS promoters), low6 (NPS detractors), high4 (CSAT satisfied, CES agree)."""
    from storage.db import count_if

    return [count_if(score >= PROMOTER_MIN).label("high9"), count_if(score <= DETRACTOR_MAX).label("low6"),
            count_if(score >= SATISFIED_MIN).label("high4")]


def sqlite_instant(dt: datetime) -> str:
    """An aware instant as SQLAlchemy's SQLite dialect stores a UTCDateTime: naive UTC text, microseconds."""
    return dt.astimezone(timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds")


def compute_scores_sqlite(conn: sqlite3.Connection, *, since: datetime | None = None, until: datetime | None = None,
                          by: GroupBy | None = None) -> list[ScoreGroup]:
    """compute_scores on a plain sqlite3 connection to a database at head (see storage/revision.py)."""
    sql, params = scores_query(since=since, until=until, by=by)
    params = {k: sqlite_instant(v) if isinstance(v, datetime) else v for k, v in params.items()}
    return score_groups(conn.execute(sql, params).fetchall(), by)


def scores_document(groups: list[ScoreGroup], *, since: str | None, until: str | None,
                    by: str | None) -> dict[str, Any]:
    """The `cxloop scores --json` object."""
    return {"since": since, "until": until, "by": by, "groups": [g.as_dict() for g in groups]}


def delta(now: float | int | None, before: float | int | None) -> float | None:
    """Change between two scores, or None when either is missing."""
    if now is None or before is None:
        return None
    return round(now - before, 1)
