"""The weekly digest: each team's scores, cases, customer voices and recognition for the week just ended.

A digest covers one Monday-to-Sunday week in the workspace time zone. It is computed from the
database (`compute_digest`), turned into a neutral message by a pure builder (`digest_message`),
and queued in the outbox: by the `digest` due job at the configured day and time, once per team
and week (a job claim plus a unique outbox key), or on demand with `/cx digest`.

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

import base64
import logging
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, time as Clock, timedelta, timezone
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, case, func, or_, select
from sqlmodel import Session

from bot.assist.messages import summary_blocks
from bot.assist.results import DigestSummary
from bot.assist.service import assistant_for
from bot.assist.store import week_summary
from bot.console.registry import Reply, closest, command
from bot.config import Settings, Workspace
from bot.errors import BadInput, NotAllowed, NotFound
from bot.chat.messages import (
    Block,
    Context,
    FieldItem,
    Fields,
    Header,
    Image,
    Mention,
    Message,
    PersonRef,
    Quote,
    Section,
    Span,
    bold,
    plain,
)
from bot.cases.notify import channel_targets
from bot.machinery.outbox import enqueue
from bot.cases.resolved import CaseStatus, ResolvedStep, RootCause
from bot.people.roles import Role
from bot.people.roster import Actor, person_ref
from bot.machinery.schedule import claim, due_job
from bot.reporting.scores import ScoreGroup, compute_scores, delta, round_half_away
from storage.db import session_scope
from storage.models import Case, CaseStep, JobClaim, Member, Shoutout, SurveyResponse

log = logging.getLogger(__name__)

TREND_WEEKS = 8
MAX_LATE = timedelta(days=6)  # a missed digest is caught up within this, never later
QUOTE_CHARS = 200
MAX_QUOTES = 3
MAX_SHOUTOUTS = 6
SHOUTOUT_CHARS = 300
CHART_NOTE = "📈 Chart: posted with the real digest."


# --- weeks -----------------------------------------------------------------------------------


def _local_midnight(day: date, ws: Workspace) -> datetime:
    return datetime.combine(day, Clock(0), tzinfo=ws.zone).astimezone(timezone.utc)


def _monday(at: datetime, ws: Workspace) -> date:
    local = at.astimezone(ws.zone).date()
    return local - timedelta(days=local.weekday())


def week_bounds(monday: date, ws: Workspace) -> tuple[datetime, datetime]:
    """The week from local Monday 00:00 to the next local Monday 00:00, as UTC instants."""
    return _local_midnight(monday, ws), _local_midnight(monday + timedelta(days=7), ws)


def last_full_week(ws: Workspace, now: datetime) -> tuple[datetime, datetime]:
    """The Monday-to-Sunday week before the one `now` falls in (workspace zone)."""
    return week_bounds(_monday(now, ws) - timedelta(days=7), ws)


def digest_instant(ws: Workspace, monday: date) -> datetime:
    """When the digest of the week before `monday` is due: the configured day and time of `monday`'s week."""
    day = monday + timedelta(days=ws.digest.day)
    return datetime.combine(day, ws.digest.time, tzinfo=ws.zone).astimezone(timezone.utc)


@dataclass(frozen=True)
class DueDigest:
    at: datetime          # the digest instant
    week_start: datetime  # the reported week, UTC instants of local midnights
    week_end: datetime


def due_digest(ws: Workspace, now: datetime) -> DueDigest | None:
    """The digest due at `now`: the latest digest instant at or before `now`, unless it is over MAX_LATE old."""
    this_monday = _monday(now, ws)
    for monday in (this_monday, this_monday - timedelta(days=7)):
        at = digest_instant(ws, monday)
        if at <= now:
            if now - at > MAX_LATE:
                return None
            start, end = week_bounds(monday - timedelta(days=7), ws)
            return DueDigest(at=at, week_start=start, week_end=end)
    return None


def week_label(ws: Workspace, week_start: datetime) -> str:
    """'2026-11-16': the local Monday the week starts on (used in keys)."""
    return week_start.astimezone(ws.zone).date().isoformat()


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


def _count_if(cond: Any) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


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
        _count_if(_during(c.opened_at, start, end)),
        _count_if(_during(c.resolved_at, start, end)),
        _count_if(_during(c.first_response_at, start, end)),
        _count_if(and_(open_at_end, late_at_end)),
        _count_if(and_(_during(c.resolved_at, start, end), c.resolved_at > c.resolve_due_at)),
        _count_if(_during(c.loop_closed_at, start, end)),
        _count_if(and_(_during(c.loop_closed_at, start, end), in_sla)),
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
    positive = or_(and_(nps, r.score >= 9), and_(~nps, r.score >= 4))
    negative = or_(and_(nps, r.score <= 6), and_(~nps, r.score <= 2))
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


# --- the message (pure) ----------------------------------------------------------------------


def format_span(td: timedelta) -> str:
    """'45 min', '3 h 20 min', '4 d 1 h': how long something took, to the minute."""
    mins = max(0, int(round(td.total_seconds() / 60)))
    if mins < 60:
        return f"{mins} min"
    hours, rest = divmod(mins, 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _range(data: DigestData) -> str:
    a, b = data.first_day, data.last_day
    if a.year != b.year:
        return f"{a.day} {a:%b %Y} – {b.day} {b:%b %Y}"
    if a.month != b.month:
        return f"{a.day} {a:%b} – {b.day} {b:%b %Y}"
    return f"{a.day}–{b.day} {b:%b %Y}"


def _score_text(kind: str, value: float | int | None) -> str:
    if value is None:
        return "no answers"
    if kind == "nps":
        return f"{value:.1f}"
    if kind == "csat":
        return f"{value}%"
    return f"{value:.1f}%"


def _change(kind: str, now: float | int | None, before: float | int | None) -> str:
    if now is None:
        return ""
    if before is None:
        return " (no answers the week before)"
    d = delta(now, before)
    assert d is not None
    if d == 0:
        return " (= the week before)"
    amount = f"{abs(d):.0f}" if kind == "csat" else f"{abs(d):.1f}"
    unit = "" if kind == "nps" else " pts"
    return f" {'▲ +' if d > 0 else '▼ −'}{amount}{unit} vs. the week before"


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def _score_field(label: str, kind: str, now: float | int | None, before: float | int | None, answers: int,
                 detail: str) -> FieldItem:
    if not answers:
        was = "" if before is None else f"\n({_score_text(kind, before)} the week before)"
        return FieldItem(label=label, value=[plain("no answers this week" + was)])
    return FieldItem(label=label, value=[bold(_score_text(kind, now)), plain(_change(kind, now, before)),
                                         plain(f"\n{_plural(answers, 'answer')}{detail}")])


def _score_fields(data: DigestData) -> Fields:
    now, before = data.scores, data.previous
    nps, csat, ces = now.nps, now.csat, now.ces
    return Fields(items=[
        _score_field("NPS", "nps", nps.score, before.nps.score, nps.responses,
                     f": {_plural(nps.promoters, 'promoter')}, {_plural(nps.passives, 'passive')}, "
                     f"{_plural(nps.detractors, 'detractor')}"),
        _score_field("CSAT", "csat", csat.score, before.csat.score, csat.responses,
                     f", {csat.satisfied} satisfied (4–5)"),
        _score_field("CES", "ces", ces.score, before.ces.score, ces.responses, f", {ces.agree} found it easy (4–5)"),
    ])


def _case_fields(c: CaseFigures) -> Fields:
    def median(value: timedelta | None, n: int, none: str) -> list[Span]:
        if value is None:
            return [plain(none)]
        return [bold(format_span(value)), plain(f"\n{_plural(n, 'case')}")]

    loops: list[Span] = [bold(str(c.loops_closed))]
    if c.loops_closed:
        loops.append(plain(f"\n{c.loop_closure_rate}% within the resolve SLA ({c.loops_closed_in_sla} of {c.loops_closed})"))
    overdue: list[Span] = [bold(str(c.overdue))]
    if c.overdue:
        overdue.append(plain(f"\n{c.overdue_open} still open past a due time at the week's end · "
                             f"{c.resolved_late} resolved late"))
    return Fields(items=[
        FieldItem(label="Cases opened", value=[bold(str(c.opened))]),
        FieldItem(label="Resolved", value=[bold(str(c.resolved))]),
        FieldItem(label="Overdue", value=overdue),
        FieldItem(label="Loops closed", value=loops),
        FieldItem(label="Median time to first response",
                  value=median(c.median_first_response, c.first_responses, "no first responses this week")),
        FieldItem(label="Median time to resolution",
                  value=median(c.median_resolution, c.resolved, "no cases resolved this week")),
    ])


def _quote_label(q: CustomerQuote) -> str:
    scale = {"nps": "0–10", "csat": "1–5", "ces": "1–5"}.get(q.survey, "")
    if q.survey == "nps":
        kind = "promoter" if q.score >= 9 else ("passive" if q.score >= 7 else "detractor")
    else:
        kind = "happy" if q.score >= 4 else ("neutral" if q.score == 3 else "unhappy")
    return f"— {q.survey.upper()} {q.score} ({scale}), {kind}"


def _shoutout_blocks(data: DigestData) -> list[Block]:
    blocks: list[Block] = [Section(spans=[bold("🙌 Shout-outs this week")])]
    for sh in data.shoutouts:
        spans: list[Span] = [Mention(person=sh.to)]
        if sh.source == "customer":
            spans.append(plain(" — praised by a customer"))
        elif sh.source == "loop":
            spans.append(plain(" — for closing the loop"))
        elif sh.by is not None:
            spans += [plain(" — from "), Mention(person=sh.by)]
        blocks += [Section(spans=spans), Quote(text=sh.text, cut_from=sh.cut_from)]
    if data.more_shoutouts:
        blocks.append(Context(spans=[plain(f"…and {_plural(data.more_shoutouts, 'more shout-out')} this week.")]))
    return blocks


def _trend_series(data: DigestData) -> list[Any]:
    from bot.reporting.charts import Series

    return [
        Series("NPS", [w.scores.nps.score for w in data.trend], -100, 100, "", "#2b6cb0", 1),
        Series("CSAT", [w.scores.csat.score for w in data.trend], 0, 100, "%", "#2f855a", 0),
        Series("CES", [w.scores.ces.score for w in data.trend], 0, 100, "%", "#b7791f", 1),
    ]


def chart_png(data: DigestData) -> bytes:
    """The eight-week trend of NPS, CSAT and CES as a PNG (three small panels)."""
    from bot.reporting.charts import trend_png

    return trend_png([w.monday for w in data.trend], _trend_series(data),
                     title=f"{data.team_title}: the last {len(data.trend)} weeks")


def _has_trend(data: DigestData) -> bool:
    return any(w.scores.responses for w in data.trend)


def _trend_text(data: DigestData) -> str:
    return "\n".join(f"{x.name}: " + " · ".join("—" if v is None else x.label(v) for v in x.values)
                     for x in _trend_series(data))


def digest_message(data: DigestData, *, chart: bool = True) -> Message:
    """The team's weekly digest. `chart=False` (previews) gives the trend as text instead of an image."""
    title = data.team_title
    when = _range(data)
    blocks: list[Block] = [
        Header(text=f"📊 {title}: weekly digest"),
        Context(spans=[plain(f"Week of {data.first_day:%A} {data.first_day.day} {data.first_day:%B} to "
                             f"{data.last_day:%A} {data.last_day.day} {data.last_day:%B %Y} ({data.timezone})")]),
    ]
    if data.is_empty:
        empty = f"No survey answers and no case activity for {title} last week."
        blocks.append(Section(spans=[plain(empty)]))
        if data.cases.overdue_open:
            blocks.append(Section(spans=[plain(
                f"{_plural(data.cases.overdue_open, 'case was', 'cases were')} still open past a due time at the "
                "end of the week: `/cx overdue` lists them.")]))
        return Message(text=f"{title} weekly digest, {when}: {empty}", blocks=blocks)

    s = data.scores
    blocks.append(Section(spans=[bold("Scores")]))
    blocks.append(_score_fields(data))
    if _has_trend(data):
        if chart:
            png = chart_png(data)
            blocks.append(Image(filename=f"digest-{data.team}-{data.first_day.isoformat()}.png",
                                alt=f"{title}: NPS, CSAT and CES for the {len(data.trend)} weeks to "
                                    f"{data.last_day.day} {data.last_day:%b %Y}; gaps are weeks with no answers",
                                title=f"{title}: {len(data.trend)}-week trend",
                                png_base64=base64.b64encode(png).decode("ascii")))
        else:
            blocks.append(Context(spans=[plain(f"{CHART_NOTE} The last {len(data.trend)} weeks, oldest first:\n"
                                               + _trend_text(data))]))

    blocks.append(Section(spans=[bold("Cases")]))
    blocks.append(_case_fields(data.cases))
    if data.root_causes:
        blocks.append(Section(spans=[bold("Root causes documented:"), plain(
            " " + " · ".join(f"{cause.label} {n}" for cause, n in data.root_causes))]))

    if data.summary is not None:
        blocks += summary_blocks(data.summary)

    if data.quotes:
        blocks.append(Section(spans=[bold("💬 In the customers' words")]))
        for q in data.quotes:
            blocks += [Quote(text=q.text, cut_from=q.cut_from), Context(spans=[plain(_quote_label(q))])]

    if data.shoutouts:
        blocks += _shoutout_blocks(data)
    if data.loops_closed_well:
        spans: list[Span] = [bold("🔁 Loops closed well"), plain(" (within SLA): ")]
        for i, (who, n) in enumerate(data.loops_closed_well):
            if i:
                spans.append(plain(", "))
            spans.append(Mention(person=who))
            if n > 1:
                spans.append(plain(f" ×{n}"))
        spans.append(plain(". Thank you!"))
        blocks.append(Section(spans=spans))

    blocks.append(Context(spans=[plain(
        "Overdue: still open past a due time at the end of the week, or resolved after its resolve-by time. "
        "Within SLA: the customer was told before the case's resolve-by time. "
        "Managers: `/cx digest preview` shows this at any time.")]))
    text = (f"{title} weekly digest, {when}: NPS {_score_text('nps', s.nps.score)}, "
            f"CSAT {_score_text('csat', s.csat.score)}, CES {_score_text('ces', s.ces.score)}; "
            f"{_plural(data.cases.opened, 'case')} opened, {data.cases.loops_closed} loops closed")
    return Message(text=text, blocks=blocks)


# --- queueing --------------------------------------------------------------------------------


def _targets(ws: Workspace, team: str) -> list[tuple[str, str]]:
    # Only the team's own channels: `channel_targets` falls back to the default team for unknown keys.
    t = ws.team(team)
    return channel_targets(ws, team) if (t.slack_channel or t.teams_channel) else []


def claim_key(team: str, week: str) -> str:
    return f"digest:{team}:{week}"


def _already_claimed(engine: Engine, key: str) -> bool:
    with Session(engine) as s:
        return s.execute(select(JobClaim.id).where(JobClaim.key == key)).first() is not None


@due_job("digest")
def weekly_digests(engine: Engine, ws: Workspace, now: datetime) -> int:
    """Queue each team's digest once its instant has come (caught up within MAX_LATE); returns how many."""
    due = due_digest(ws, now)
    if due is None:
        return 0
    week = week_label(ws, due.week_start)
    queued = 0
    for t in ws.teams:
        try:
            targets = _targets(ws, t.key)
            key = claim_key(t.key, week)
            if not targets or _already_claimed(engine, key):
                continue
            # Computed before the writing transaction, so no write lock is held while the chart is drawn.
            msg = digest_message(compute_digest(engine, ws, t.key, due.week_start, due.week_end))
            with session_scope(engine) as s:
                if not claim(s, key):
                    continue  # another run or replica got here first
                for platform, target in targets:
                    enqueue(s, key=f"{platform}:digest:{t.key}:{week}", platform=platform, action="post",
                            target=target, message=msg)
            queued += 1
        except Exception:  # one team's failure never stops the others; its claim was rolled back
            log.exception("digest for team %s failed", t.key)
    return queued


# --- /cx digest ------------------------------------------------------------------------------


def _teams_for(actor: Actor, ws: Workspace, team: str | None) -> list[str]:
    keys = [t.key for t in ws.teams]
    if team is not None:
        if team not in keys:
            guess = closest(team, keys)
            hint = f" Did you mean `{guess}`?" if guess else f" Teams: {', '.join(keys)}."
            raise NotFound(f"There is no team `{team}`.{hint}")
        if not actor.manages_team(team):
            raise NotAllowed(f"You don't manage the {ws.team(team).title} team; only its managers (or an admin) "
                             "can post or preview its digest.")
        return [team]
    mine = keys if actor.is_admin else [k for k in keys if k in actor.manages]
    if not mine:
        raise NotAllowed("You don't manage any team, so there is no digest to show; an admin can make you a "
                         "team's manager.")
    return mine


def _where(targets: list[tuple[str, str]]) -> str:
    return " and ".join(f"#{target}" if platform == "slack" else "the Teams channel" for platform, target in targets)


@command("digest", "digest [preview] [TEAM]",
         "Last week's digest: post it to the team channel now, or preview it just for you", Role.MANAGER)
def _digest(session: Session, ws: Workspace, actor: Actor, args: list[str], now: datetime) -> Reply:
    words = [a.lower() for a in args]
    preview = "preview" in words
    rest = [w for w in words if w != "preview"]
    if len(rest) > 1:
        raise BadInput("Usage: `/cx digest [preview] [TEAM]`, e.g. `/cx digest preview support`.")
    teams = _teams_for(actor, ws, rest[0] if rest else None)
    start, end = last_full_week(ws, now)
    if preview:
        if len(teams) > 1:
            raise BadInput(f"You manage {', '.join(teams)}; say which one: `/cx digest preview {teams[0]}`.")
        data = compute_digest(session, ws, teams[0], start, end)
        msg = digest_message(data, chart=False)
        note = Context(spans=[plain("Preview: only you can see this. `/cx digest` posts it to the team channel.")])
        # The digest quotes customers: a preview is for the asker's eyes only (never a shared place).
        return Reply(Message(text=f"Preview: {msg.text}", blocks=[*msg.blocks, note]), private=True)
    week = week_label(ws, start)
    stamp = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    done: list[str] = []
    missing: list[str] = []
    for key in teams:
        title = ws.team(key).title
        targets = _targets(ws, key)
        if not targets:
            missing.append(key)
            continue
        msg = digest_message(compute_digest(session, ws, key, start, end))
        for platform, target in targets:
            # Its own key (not the scheduled one): posting now never uses up the scheduled digest,
            # and it can be posted again on demand.
            enqueue(session, key=f"{platform}:digest:{key}:{week}:now:{stamp}:{actor.id}", platform=platform,
                    action="post", target=target, message=msg)
        done.append(f"Posted the {title} digest to {_where(targets)}.")
    if not done:
        only = missing[0]
        raise BadInput(f"The {ws.team(only).title} team has no channel yet: "
                       f"`/cx team channel #channel {only}` sets one." if len(missing) == 1 else
                       "None of your teams has a channel yet: `/cx team channel #channel TEAM` sets one.")
    lines = done + [f"{ws.team(k).title} has no channel, so nothing was posted for it." for k in missing]
    return Reply(Message(text=done[0], blocks=[Section(spans=[plain("\n".join(lines))])]))
