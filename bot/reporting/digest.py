"""The weekly digest's figures: each team's scores, cases, customer voices and recognition for one week.

A digest covers one Monday-to-Sunday week in the workspace time zone. It is computed from the
database here (`compute_digest`), turned into a neutral message by a pure builder
(bot/reporting/messages.py), and queued by the `digest` due job (bot/reporting/jobs.py) or on demand
with `/cx digest` (bot/reporting/commands.py).

Definitions (also in README):
- Overdue: cases still active at the end of the week (Monday 00:00) and past a due time then
  (first response or resolution), plus cases resolved during the week after their resolve-by
  time. Measured at the end of the week, so a catch-up or a preview shows the same figures.
- Loops closed within SLA: of the cases whose loop was closed during the week, the share closed
  (customer told) by the case's resolve-by time.
- Medians: opened -> first response, for cases first responded to during the week; opened ->
  resolved, for cases resolved during the week.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, case, func, or_, select
from sqlmodel import Session

from bot.assist.results import DigestSummary
from bot.assist.service import assistant_for
from bot.assist.store import week_summary
from bot.cases.resolved import CaseStatus, ResolvedStep, RootCause
from bot.chat.messages import (
    PersonRef,
)
from bot.config import Settings, Workspace
from bot.people.roster import person_ref
from bot.intake.cutoffs import DETRACTOR_MAX, PROMOTER_MIN, SATISFIED_MIN, UNHAPPY_MAX
from bot.reporting.scores import ScoreGroup, compute_scores, round_half_away
from storage.db import count_if
from storage.models import Case, CaseStep, Member, Shoutout, SurveyResponse

log = logging.getLogger(__name__)
from bot.reporting.weeks import TREND_WEEKS, week_bounds

QUOTE_CHARS = 200
MAX_QUOTES = 3
MAX_SHOUTOUTS = 6
SHOUTOUT_CHARS = 300
CHART_NOTE = "📈 Chart: posted with the real digest."

# --- the data --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeekScores:
    monday: date
    scores: ScoreGroup


@dataclass(frozen=True)
class CustomerQuote:
    text: str
    survey: str
    score: int
    cut_from: int | None = None  # the comment's full length when shortened


@dataclass(frozen=True)
class ShoutoutLine:
    to: PersonRef
    by: PersonRef | None
    source: str  # peer, customer or loop
    text: str
    cut_from: int | None = None


@dataclass(frozen=True)
class CaseFigures:
    opened: int = 0
    resolved: int = 0
    first_responses: int = 0
    overdue_open: int = 0       # active at the end of the week and past a due time then
    resolved_late: int = 0      # resolved during the week after the resolve-by time
    loops_closed: int = 0
    loops_closed_in_sla: int = 0
    documented: int = 0
    median_first_response: timedelta | None = None
    median_resolution: timedelta | None = None

    @property
    def overdue(self) -> int:
        return self.overdue_open + self.resolved_late

    @property
    def loop_closure_rate(self) -> int | None:
        """Percent of the week's closed loops closed within the resolve SLA (whole number)."""
        if not self.loops_closed:
            return None
        return int(round_half_away(Fraction(100 * self.loops_closed_in_sla, self.loops_closed), 0))

    @property
    def active(self) -> bool:
        """Anything happened to a case during the week."""
        return bool(self.opened or self.resolved or self.first_responses or self.loops_closed or self.documented)


@dataclass(frozen=True)
class DigestData:
    team: str
    team_title: str
    timezone: str
    week_start: datetime
    week_end: datetime
    scores: ScoreGroup
    previous: ScoreGroup
    trend: list[WeekScores]
    cases: CaseFigures
    root_causes: list[tuple[RootCause, int]] = field(default_factory=list)
    quotes: list[CustomerQuote] = field(default_factory=list)
    shoutouts: list[ShoutoutLine] = field(default_factory=list)
    more_shoutouts: int = 0
    loops_closed_well: list[tuple[PersonRef, int]] = field(default_factory=list)
    summary: DigestSummary | None = None  # the assistant's three bullets on the week's themes

    @property
    def first_day(self) -> date:
        return self.week_start.astimezone(ZoneInfo(self.timezone)).date()

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=6)

    @property
    def is_empty(self) -> bool:
        return not self.scores.responses and not self.cases.active and not self.shoutouts


def _during(col: Any, start: datetime, end: datetime) -> Any:
    return and_(col >= start, col < end)


def _reader(bind: Any) -> Engine:
    # A session's bind may be the writing engine (BEGIN IMMEDIATE on SQLite); score queries run on
    # their own connection and must not queue behind the session's own write lock.
    return bind.execution_options(cx_write=False)


def _closed_in_sla(c: Any) -> Any:
    """The customer was told by the case's resolve-by time (as bot.recognition.shoutouts counts a loop closed well)."""
    return and_(c.resolve_due_at.is_not(None), c.loop_closed_at <= c.resolve_due_at)


def _median(spans: list[timedelta]) -> timedelta | None:
    if not spans:
        return None
    secs = statistics.median(s.total_seconds() for s in spans)
    return timedelta(seconds=round(secs))


def _case_figures(s: Session, team: str, start: datetime, end: datetime) -> CaseFigures:
    c = Case.__table__.c
    open_at_end = and_(
        c.opened_at < end,
        or_(c.resolved_at.is_(None), c.resolved_at >= end),
        or_(c.status != CaseStatus.DISMISSED.value, c.closed_at.is_(None), c.closed_at >= end),
    )
    late_at_end = or_(
        and_(c.respond_due_at <= end, or_(c.first_response_at.is_(None), c.first_response_at >= end)),
        c.resolve_due_at <= end,
    )
    in_sla = _closed_in_sla(c)
    row = s.execute(select(
        count_if(_during(c.opened_at, start, end)),
        count_if(_during(c.resolved_at, start, end)),
        count_if(_during(c.first_response_at, start, end)),
        count_if(and_(open_at_end, late_at_end)),
        count_if(and_(_during(c.resolved_at, start, end), c.resolved_at > c.resolve_due_at)),
        count_if(_during(c.loop_closed_at, start, end)),
        count_if(and_(_during(c.loop_closed_at, start, end), in_sla)),
    ).where(c.team == team)).one()
    opened, resolved, responded, overdue_open, late, loops, loops_ok = (int(v) for v in row)
    # The week's cases only (not all of them): enough to take exact medians in Python on any database.
    first = [b - a for a, b in s.execute(select(c.opened_at, c.first_response_at).where(
        c.team == team, _during(c.first_response_at, start, end)))]
    done = [b - a for a, b in s.execute(select(c.opened_at, c.resolved_at).where(
        c.team == team, _during(c.resolved_at, start, end)))]
    documented = int(s.execute(select(func.count()).select_from(CaseStep).join(Case, Case.id == CaseStep.case_id)
                               .where(Case.team == team, CaseStep.step == ResolvedStep.DOCUMENT.value,
                                      _during(CaseStep.done_at, start, end))).scalar_one())
    return CaseFigures(opened=opened, resolved=resolved, first_responses=responded, overdue_open=overdue_open,
                       resolved_late=late, loops_closed=loops, loops_closed_in_sla=loops_ok, documented=documented,
                       median_first_response=_median(first), median_resolution=_median(done))


def _root_causes(s: Session, team: str, start: datetime, end: datetime) -> list[tuple[RootCause, int]]:
    rows = s.execute(select(CaseStep.root_cause, func.count()).join(Case, Case.id == CaseStep.case_id)
                     .where(Case.team == team, CaseStep.step == ResolvedStep.DOCUMENT.value,
                            CaseStep.root_cause.is_not(None), _during(CaseStep.done_at, start, end))
                     .group_by(CaseStep.root_cause)).all()
    out = []
    for cause, n in rows:
        try:
            out.append((RootCause(cause), int(n)))
        except ValueError:
            continue
    return sorted(out, key=lambda p: (-p[1], p[0].label))


def _shorten(text: str, limit: int) -> tuple[str, int | None]:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text, None
    head = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
    return head.rstrip(" ,;:.-–—") + "…", len(text)


def _quotes(s: Session, team: str, start: datetime, end: datetime) -> list[CustomerQuote]:
    r = SurveyResponse.__table__.c
    nps = r.survey == "nps"
    positive = or_(and_(nps, r.score >= PROMOTER_MIN), and_(~nps, r.score >= SATISFIED_MIN))
    negative = or_(and_(nps, r.score <= DETRACTOR_MAX), and_(~nps, r.score <= UNHAPPY_MAX))
    base = (select(r.id, r.survey, r.score, r.comment)
            .where(r.team == team, _during(r.responded_at, start, end), r.comment.is_not(None),
                   func.length(func.trim(r.comment)) > 0)
            # Short comments first (they read as quotes), then the newest.
            .order_by(case((func.length(r.comment) <= QUOTE_CHARS, 0), else_=1), r.responded_at.desc(), r.id.desc()))
    picked: list[Any] = []
    # A mix when the week has one: a promoter's praise and a detractor's complaint, then one more.
    for cond in (positive, negative, None):
        q = base.where(r.id.not_in([p.id for p in picked])) if picked else base
        if cond is not None:
            q = q.where(cond)
        picked += list(s.execute(q.limit(1 if cond is not None else MAX_QUOTES - len(picked))))
        if len(picked) >= MAX_QUOTES:
            break
    out = []
    for p in picked[:MAX_QUOTES]:
        text, cut_from = _shorten(p.comment, QUOTE_CHARS)
        out.append(CustomerQuote(text=text, survey=p.survey, score=int(p.score), cut_from=cut_from))
    return out


def _people(s: Session, ids: set[int]) -> dict[int, PersonRef]:
    if not ids:
        return {}
    return {m.id: person_ref(m) for m in s.execute(select(Member).where(Member.id.in_(ids))).scalars()}  # type: ignore[misc]


def _shoutouts(s: Session, team: str, start: datetime, end: datetime) -> tuple[list[ShoutoutLine], int]:
    # Loops closed well have their own line, counted from the cases; pending or skipped shout-outs never show.
    conds = (Shoutout.team == team, Shoutout.status == "posted", Shoutout.source != "loop",
             _during(Shoutout.created_at, start, end))
    total = int(s.execute(select(func.count()).select_from(Shoutout).where(*conds)).scalar_one())
    rows = list(s.execute(select(Shoutout).where(*conds).order_by(Shoutout.created_at, Shoutout.id)
                          .limit(MAX_SHOUTOUTS)).scalars())
    people = _people(s, {r.to_member_id for r in rows} | {r.from_member_id for r in rows if r.from_member_id})
    out = []
    for r in rows:
        if r.to_member_id not in people:
            continue
        text, cut_from = _shorten(r.text, SHOUTOUT_CHARS)
        out.append(ShoutoutLine(to=people[r.to_member_id], by=people.get(r.from_member_id or -1), source=r.source,
                                text=text, cut_from=cut_from))
    return out, max(0, total - len(rows))


def _loops_closed_well(s: Session, team: str, start: datetime, end: datetime) -> list[tuple[PersonRef, int]]:
    c = Case.__table__.c
    rows = s.execute(select(c.owner_id, func.count()).where(
        c.team == team, c.owner_id.is_not(None), _during(c.loop_closed_at, start, end),
        _closed_in_sla(c)).group_by(c.owner_id)).all()
    people = _people(s, {int(o) for o, _ in rows})
    out = [(people[int(o)], int(n)) for o, n in rows if int(o) in people]
    return sorted(out, key=lambda p: (-p[1], p[0].label.lower()))


def compute_digest(session_or_engine: Session | Engine, ws: Workspace, team: str, week_start: datetime,
                   week_end: datetime) -> DigestData:
    """Everything the team's digest shows for [week_start, week_end), counted in SQL where possible."""
    if isinstance(session_or_engine, Session):
        return _compute(session_or_engine, _reader(session_or_engine.get_bind()), ws, team, week_start, week_end)
    with Session(session_or_engine) as s:
        return _compute(s, _reader(session_or_engine), ws, team, week_start, week_end)


def _compute(s: Session, reader: Engine, ws: Workspace, team: str, week_start: datetime,
             week_end: datetime) -> DigestData:
    try:
        title = ws.team(team).title
    except KeyError:
        title = team
    monday = week_start.astimezone(ws.zone).date()
    trend = []
    for back in range(TREND_WEEKS - 1, -1, -1):
        m = monday - timedelta(days=7 * back)
        since, until = week_bounds(m, ws)
        if back == 0:
            since, until = week_start, week_end
        groups = compute_scores(reader, since=since, until=until, team=team)
        trend.append(WeekScores(monday=m, scores=groups[0] if groups else ScoreGroup(key=team)))
    previous = trend[-2].scores  # TREND_WEEKS >= 2: the week before is in the trend
    shoutouts, more = _shoutouts(s, team, week_start, week_end)
    return DigestData(
        team=team, team_title=title, timezone=ws.timezone, week_start=week_start, week_end=week_end,
        scores=trend[-1].scores, previous=previous, trend=trend,
        cases=_case_figures(s, team, week_start, week_end),
        root_causes=_root_causes(s, team, week_start, week_end),
        quotes=_quotes(s, team, week_start, week_end),
        shoutouts=shoutouts, more_shoutouts=more,
        loops_closed_well=_loops_closed_well(s, team, week_start, week_end),
        summary=_week_summary(s, ws, team, week_start, week_end),
    )


def _week_summary(s: Session, ws: Workspace, team: str, start: datetime, end: datetime) -> DigestSummary | None:
    """The week's themes: the model's bullets if made ahead (the `assist` job), else offline; never a model call."""
    try:
        return week_summary(s, team, start, end, zone=ws.zone, assistant=assistant_for(Settings(), s.get_bind(), ws))
    except Exception:  # a bonus, never a reason for the digest not to go out
        log.exception("digest summary for %s failed", team)
        return None
