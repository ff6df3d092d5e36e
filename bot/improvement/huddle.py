"""Each team's weekly huddle: what keeps going wrong, the last 4 weeks against the 4 before.

A pattern is a root-cause area (from the Document step), a theme (the assistant's, stored or offline)
or a touchpoint that came up in at least two detractor answers of the last 4 full weeks (Monday to
Sunday, workspace time zone). A detractor answer is one at or under the workspace's case threshold.
Each pattern counts its detractor answers and the cases they opened, against the 4 weeks before;
small numbers are called too few to judge. A pattern set aside with "Not now" stays away until it
grows past the count it had then. The message is built in bot/improvement/huddle_messages.py and
queued by the `huddles` due job or `/cx huddle` (bot/improvement/jobs.py, commands.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time as Clock, timedelta, timezone

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.assist.redact import redact
from bot.cases.resolved import RootCause
from bot.config import Workspace
from bot.errors import BadInput, NotAllowed
from bot.improvement.enums import Dimension
from bot.improvement.links import active
from bot.improvement.measure import Answer, answers
from bot.improvement.service import theme_set
from bot.people.roster import Actor
from storage.models import HuddleDismissal

WINDOW_WEEKS = 4
RECURS = 2          # a pattern came up at least this often in the last 4 weeks
TREND_MIN = 5       # fewer than this in both windows: too few to call a trend
MAX_PATTERNS = 5
QUOTE_CHARS = 140
QUOTES = 2
_ORDER = {Dimension.ROOT_CAUSE: 0, Dimension.THEME: 1, Dimension.TOUCHPOINT: 2}


@dataclass(frozen=True)
class Pattern:
    dimension: Dimension
    value: str
    responses: int          # detractor answers in the last 4 weeks
    cases: int              # of them, how many opened a case
    before: int             # detractor answers in the 4 weeks before
    before_cases: int
    quotes: tuple[str, ...] = ()
    covered_by: tuple[int, str, str] | None = None  # (improvement id, title, stage label)

    @property
    def key(self) -> str:
        return f"{self.dimension.value}:{self.value}"

    @property
    def label(self) -> str:
        if self.dimension is Dimension.ROOT_CAUSE:
            try:
                return RootCause(self.value).label
            except ValueError:
                return self.value
        return self.value


@dataclass(frozen=True)
class HuddleData:
    team: str
    team_title: str
    timezone: str
    since: datetime          # the last 4 weeks: [since, until)
    until: datetime
    before_since: datetime   # the 4 weeks before: [before_since, since)
    patterns: list[Pattern] = field(default_factory=list)
    more: int = 0            # recurring patterns beyond MAX_PATTERNS
    set_aside: int = 0       # hidden: set aside with "Not now" and not grown since

    @property
    def quiet(self) -> bool:
        return not self.patterns


def _midnight(day: date, ws: Workspace) -> datetime:
    return datetime.combine(day, Clock(0), tzinfo=ws.zone).astimezone(timezone.utc)


def this_monday(ws: Workspace, now: datetime) -> date:
    local = now.astimezone(ws.zone).date()
    return local - timedelta(days=local.weekday())


def windows(ws: Workspace, now: datetime) -> tuple[datetime, datetime, datetime]:
    """(4 weeks before those, the last 4 full weeks' start, this week's start) as UTC instants."""
    monday = this_monday(ws, now)
    return (_midnight(monday - timedelta(weeks=2 * WINDOW_WEEKS), ws),
            _midnight(monday - timedelta(weeks=WINDOW_WEEKS), ws), _midnight(monday, ws))


def huddle_instant(ws: Workspace, now: datetime) -> datetime:
    """This week's huddle: the configured day and time of the week `now` falls in."""
    day = this_monday(ws, now) + timedelta(days=ws.huddle.day)
    return datetime.combine(day, ws.huddle.time, tzinfo=ws.zone).astimezone(timezone.utc)


def due_huddle(ws: Workspace, now: datetime) -> datetime | None:
    """This week's huddle instant when it has come and it is still that day (a missed run catches up
    the same day, never later in the week: a huddle is for the day the team meets)."""
    if not ws.huddle.enabled:
        return None
    at = huddle_instant(ws, now)
    if at <= now and at.astimezone(ws.zone).date() == now.astimezone(ws.zone).date():
        return at
    return None


def week_key(ws: Workspace, now: datetime) -> str:
    return this_monday(ws, now).isoformat()


def is_detractor(ws: Workspace, a: Answer) -> bool:
    return a.score <= int(getattr(ws.thresholds, a.survey, -1))


def _keys(a: Answer) -> list[tuple[Dimension, str]]:
    out = [(Dimension.THEME, t) for t in dict.fromkeys(a.themes)]
    if a.root_cause:
        out.insert(0, (Dimension.ROOT_CAUSE, a.root_cause))
    if a.touchpoint:
        out.append((Dimension.TOUCHPOINT, a.touchpoint))
    return out


def _shorten(text: str, mask: bool) -> str:
    text = " ".join((redact(text) if mask else text).split())
    if len(text) <= QUOTE_CHARS:
        return text
    head = text[:QUOTE_CHARS].rsplit(" ", 1)[0] if " " in text[:QUOTE_CHARS] else text[:QUOTE_CHARS]
    return head.rstrip(" ,;:.-–—") + "…"


def _quotes(items: list[Answer], mask: bool) -> tuple[str, ...]:
    picked: list[str] = []
    for a in sorted(items, key=lambda a: (a.at, a.id), reverse=True):
        if a.comment and a.comment.strip():
            q = _shorten(a.comment, mask)
            if q not in picked:
                picked.append(q)
        if len(picked) == QUOTES:
            break
    return tuple(picked)


def compute_huddle(session: Session, ws: Workspace, team: str, now: datetime) -> HuddleData:
    """The team's recurring patterns as of `now` (the last 4 full weeks against the 4 before)."""
    before_since, since, until = windows(ws, now)
    rows = [a for a in answers(session, team, before_since, until, themes=theme_set(ws)) if is_detractor(ws, a)]
    recent: dict[tuple[Dimension, str], list[Answer]] = {}
    earlier: dict[tuple[Dimension, str], list[Answer]] = {}
    for a in rows:
        bucket = recent if a.at >= since else earlier
        for k in _keys(a):
            bucket.setdefault(k, []).append(a)
    dismissed = {(Dimension(d.dimension), d.value): d.responses for d in session.exec(
        select(HuddleDismissal).where(HuddleDismissal.team == team))}
    improvements = active(session, team)
    found: list[Pattern] = []
    hidden = 0
    for (dim, value), items in recent.items():
        if len(items) < RECURS:
            continue
        if (dim, value) in dismissed and len(items) <= dismissed[(dim, value)]:
            hidden += 1
            continue
        old = earlier.get((dim, value), [])
        cover = next((imp for imp in improvements if getattr(imp, dim.value) == value), None)
        found.append(Pattern(
            dimension=dim, value=value, responses=len(items), cases=sum(a.case_id is not None for a in items),
            before=len(old), before_cases=sum(a.case_id is not None for a in old),
            quotes=_quotes(items, ws.mask_email),
            covered_by=(cover.id, cover.title, cover.stage.title()) if cover else None))  # type: ignore[arg-type]
    found.sort(key=lambda p: (-p.responses, -(p.responses - p.before), _ORDER[p.dimension], p.value))
    try:
        title = ws.team(team).title
    except KeyError:
        title = team
    return HuddleData(team=team, team_title=title, timezone=ws.timezone, since=since, until=until,
                      before_since=before_since, patterns=found[:MAX_PATTERNS], more=max(0, len(found) - MAX_PATTERNS),
                      set_aside=hidden)


def set_aside(session: Session, ws: Workspace, actor: Actor, *, team: str, dimension: str, value: str,
              responses: int, now: datetime) -> HuddleDismissal:
    """"Not now": a manager of the team sets a pattern aside until it grows past `responses`."""
    if team not in {t.key for t in ws.teams}:
        raise BadInput("That huddle's team no longer exists.")
    if not actor.manages_team(team):
        raise NotAllowed(f"Only a manager of the {ws.team(team).title} team can set a huddle pattern aside.")
    try:
        dim = Dimension(dimension)
    except ValueError:
        raise BadInput("That button names no huddle pattern.") from None
    if not value or len(value) > 64 or (dim is Dimension.ROOT_CAUSE and value not in {c.value for c in RootCause}):
        raise BadInput("That button names no huddle pattern.")
    responses = max(0, int(responses))
    row = session.exec(select(HuddleDismissal).where(HuddleDismissal.team == team, HuddleDismissal.dimension == dim.value,
                                                     HuddleDismissal.value == value)).first()
    if row is None:
        row = HuddleDismissal(team=team, dimension=dim.value, value=value, responses=responses, by=actor.id, at=now)
        try:
            with session.begin_nested():
                session.add(row)
            return row
        except IntegrityError:  # set aside at the same moment by someone else: update theirs
            row = session.exec(select(HuddleDismissal).where(
                HuddleDismissal.team == team, HuddleDismissal.dimension == dim.value,
                HuddleDismissal.value == value)).one()
    row.responses, row.by, row.at = max(row.responses, responses), actor.id, now
    session.add(row)
    session.flush()
    return row
