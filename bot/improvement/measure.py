"""An improvement's metric over a window: the segment's answers, counted and scored as the digest scores them.

A segment is a team's answers, narrowed to a touchpoint and to a theme when those are set. Themes are
the assistant's stored ones (bot/assist/store.py), or the offline keywords for a comment not yet
classified, so a measurement never waits for the assistant. The metric is the NPS, CSAT or CES of
the segment's answers of that survey, or a theme's share: of the segment's answers with a comment,
the share that raise the theme. The root-cause area narrows which cases count (bot/improvement/links.py);
answers carry no root cause until a case is documented, so it never narrows the answers measured.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from sqlalchemy import and_, select
from sqlmodel import Session

from bot.assist.themes import OTHER, ThemeSet, offline_themes
from bot.improvement.enums import Metric
from bot.intake.cutoffs import DETRACTOR_MAX, PROMOTER_MIN, SATISFIED_MIN
from bot.improvement.stats import Interval, newcombe, nps_change_interval, nps_interval, wilson
from bot.reporting.scores import CesScore, CsatScore, NpsScore, round_half_away
from storage.models import Case, ResponseTheme, SurveyResponse


@dataclass(frozen=True)
class Segment:
    team: str
    touchpoint: str | None = None
    theme: str | None = None
    root_cause: str | None = None


@dataclass(frozen=True)
class Answer:
    """One survey answer, as much of it as patterns and measurements need."""

    id: int
    survey: str
    score: int
    at: datetime
    touchpoint: str | None
    comment: str | None
    themes: tuple[str, ...]
    case_id: int | None = None
    root_cause: str | None = None


def answers(session: Session, team: str, since: datetime, until: datetime, *, touchpoint: str | None = None,
            themes: ThemeSet | None = None) -> list[Answer]:
    """The team's answers in [since, until), oldest first, each with its themes and its case (if any)."""
    r = SurveyResponse.__table__.c  # type: ignore[attr-defined]
    conds = [r.team == team, r.responded_at >= since, r.responded_at < until]
    if touchpoint:
        conds.append(r.touchpoint == touchpoint.lower())
    c = Case.__table__.c  # type: ignore[attr-defined]
    rows = session.execute(
        select(r.id, r.survey, r.score, r.responded_at, r.touchpoint, r.comment, c.id.label("case_id"), c.root_cause)
        .select_from(SurveyResponse.__table__.outerjoin(Case.__table__, c.response_id == r.id))  # type: ignore[attr-defined]
        .where(and_(*conds)).order_by(r.responded_at, r.id)).all()
    t = ResponseTheme.__table__.c  # type: ignore[attr-defined]
    stored: dict[int, list[str]] = {}
    for rid, theme in session.execute(
            select(t.response_id, t.theme).join(SurveyResponse.__table__, r.id == t.response_id)  # type: ignore[attr-defined]
            .where(and_(*conds)).order_by(t.response_id, t.rank)):
        stored.setdefault(rid, []).append(theme)
    out = []
    for row in rows:
        found = stored.get(row.id)
        if found is None:
            has_text = bool(row.comment and row.comment.strip())
            found = offline_themes(row.comment, themes) if has_text else []
        out.append(Answer(id=row.id, survey=row.survey, score=int(row.score), at=row.responded_at,
                          touchpoint=row.touchpoint, comment=row.comment,
                          themes=tuple(x for x in found if x != OTHER), case_id=row.case_id, root_cause=row.root_cause))
    return out


@dataclass(frozen=True)
class Measure:
    """A metric's counts over some answers: `hits` are promoters, satisfied (4–5), agree (4–5), or
    comments raising the theme; `detractors` count for NPS only."""

    metric: Metric
    n: int = 0
    hits: int = 0
    detractors: int = 0

    @property
    def value(self) -> float | None:
        """The metric as the digest shows it (NPS and CES to one decimal, CSAT whole); None with no answers."""
        if not self.n:
            return None
        if self.metric is Metric.NPS:
            return NpsScore(responses=self.n, promoters=self.hits, passives=self.n - self.hits - self.detractors,
                            detractors=self.detractors).score
        if self.metric is Metric.CSAT:
            score = CsatScore(responses=self.n, satisfied=self.hits).score
            return None if score is None else float(score)
        if self.metric is Metric.CES:
            return CesScore(responses=self.n, agree=self.hits).score
        return float(round_half_away(Fraction(100 * self.hits, self.n), 1))

    @property
    def interval(self) -> Interval | None:
        """The 95% interval of the value, in its own units."""
        if not self.n:
            return None
        if self.metric is Metric.NPS:
            found = nps_interval(self.n, self.hits, self.detractors)
        else:
            share = wilson(self.hits, self.n)
            found = Interval(100 * share.low, 100 * share.high) if share else None
        return found.rounded() if found else None


def counted(items: Iterable[Answer], metric: Metric, theme: str | None) -> Measure:
    """The metric over `items`: answers of the metric's survey (raising `theme`, when set), or for a
    theme's share, the answers with a comment."""
    n = hits = detractors = 0
    for a in items:
        if metric is Metric.THEME_SHARE:
            if not (a.comment and a.comment.strip()):
                continue
            n += 1
            hits += theme in a.themes
            continue
        if a.survey != metric.value or (theme and theme not in a.themes):
            continue
        n += 1
        if metric is Metric.NPS:
            hits += a.score >= PROMOTER_MIN
            detractors += a.score <= DETRACTOR_MAX
        else:
            hits += a.score >= SATISFIED_MIN
    return Measure(metric=metric, n=n, hits=hits, detractors=detractors if metric is Metric.NPS else 0)


def measure(session: Session, segment: Segment, metric: Metric, since: datetime, until: datetime, *,
            themes: ThemeSet | None = None) -> Measure:
    """The segment's metric over [since, until)."""
    rows = answers(session, segment.team, since, until, touchpoint=segment.touchpoint, themes=themes)
    return counted(rows, metric, segment.theme)


def weekly(session: Session, segment: Segment, metric: Metric, bounds: Sequence[tuple[datetime, datetime]], *,
           themes: ThemeSet | None = None) -> list[Measure]:
    """The metric over each window of `bounds` (consecutive, oldest first), read in one pass."""
    if not bounds:
        return []
    rows = answers(session, segment.team, bounds[0][0], bounds[-1][1], touchpoint=segment.touchpoint, themes=themes)
    return [counted([a for a in rows if since <= a.at < until], metric, segment.theme) for since, until in bounds]


@dataclass(frozen=True)
class Comparison:
    """A measurement against the baseline: the change, its 95% interval, and whether it can be judged yet."""

    before: Measure
    after: Measure
    min_responses: int

    @property
    def enough(self) -> bool:
        return self.after.n >= self.min_responses

    @property
    def needed(self) -> int:
        return max(0, self.min_responses - self.after.n)

    @property
    def change(self) -> float | None:
        a, b = self.after.value, self.before.value
        return None if a is None or b is None else round(a - b, 1)

    @property
    def interval(self) -> Interval | None:
        a, b = self.after, self.before
        if not a.n or not b.n:
            return None
        if a.metric is Metric.NPS:
            found = nps_change_interval((a.n, a.hits, a.detractors), (b.n, b.hits, b.detractors))
        else:
            share = newcombe(a.hits, a.n, b.hits, b.n)
            found = Interval(100 * share.low, 100 * share.high) if share else None
        return found.rounded() if found else None

    @property
    def verdict(self) -> str | None:
        """"better" or "worse" when the interval leaves out no change, "noise" when it does; None unjudged."""
        iv = self.interval
        if iv is None or not self.enough:
            return None
        if iv.contains(0.0):
            return "noise"
        up = iv.low > 0
        return "better" if up == self.after.metric.higher_is_better else "worse"


def meets(metric: Metric, value: float | None, target: float) -> bool:
    """Whether `value` reaches `target` (at or above it; at or below it for a theme's share)."""
    if value is None:
        return False
    return value >= target if metric.higher_is_better else value <= target


def back_in_baseline(metric: Metric, value: float | None, low: float | None, high: float | None) -> bool:
    """A Control revisit has slipped back: the value is inside the baseline's 95% interval or worse
    (at or below its top for NPS, CSAT and CES; at or above its bottom for a theme's share)."""
    if value is None or low is None or high is None:
        return False
    return value <= high if metric.higher_is_better else value >= low
