"""Where people see improvements besides their posts: the App Home section, the weekly digest's
section, and the rows `cxloop improvements` prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from bot.chat.messages import Block, Context, Header, Section, Span, bold, plain
from bot.config import Workspace
from bot.improvement import messages as im
from bot.improvement.enums import Metric, Stage
from bot.improvement.links import ACTIVE, linked_cases
from bot.improvement.service import ImprovementView, load_view, owner_ids
from bot.people.roster import Actor
from storage.models import Improvement, ImprovementAction, ImprovementEvent, ImprovementMeasure, ImprovementOwner, Member

HOME_LIMIT = 8


# --- App Home --------------------------------------------------------------------------------


def next_step(view: ImprovementView, member_id: int | None) -> list[Span]:
    """What the person should do next for this improvement."""
    mine = [a for a, _ in view.open_actions if a.owner_id == member_id]
    pending = mine or [a for a, _ in view.open_actions]
    stage = view.stage
    if pending and stage not in (Stage.CONTROL, Stage.CLOSED):
        a = pending[0]
        whose = "your action" if a.owner_id == member_id else "the next action"
        return [plain(f"Next: {whose} “{a.title}”, due "), im.when(a.due_at)]
    hint = {
        Stage.PLAN: "add a plan action (with an owner and a due date), then move to Do",
        Stage.DO: "the change is under way; a check-in follows every week",
        Stage.CHECK: "read the latest check-in; move to Act when the figures are clear",
        Stage.ACT: "target met? move to Control; not met? adjust the plan or extend the date",
        Stage.CONTROL: "cxloop revisits the figures and warns if they slip back",
    }.get(stage, "")
    return [plain(f"Next: {hint}.")] if hint else []


def home_blocks(session: Session, ws: Workspace, actor: Actor) -> list[Block]:
    """The improvements the viewer owns, or holds an open plan action in, with their next step."""
    owned = set(session.exec(select(Improvement.id).join(
        ImprovementOwner, ImprovementOwner.improvement_id == Improvement.id)  # type: ignore[arg-type]
        .where(ImprovementOwner.member_id == actor.id, Improvement.stage.in_(ACTIVE))))  # type: ignore[attr-defined]
    acting = set(session.exec(select(ImprovementAction.improvement_id).join(
        Improvement, Improvement.id == ImprovementAction.improvement_id).where(
        ImprovementAction.owner_id == actor.id, ImprovementAction.done_at.is_(None),  # type: ignore[union-attr]
        Improvement.stage.in_(ACTIVE))))  # type: ignore[attr-defined]
    ids = sorted(owned | acting)
    if not ids:
        return []
    blocks: list[Block] = [Header(text=f"Your improvements ({len(ids)})")]
    for imp_id in ids[:HOME_LIMIT]:
        view = load_view(session, ws, imp_id)
        blocks.append(Section(spans=[*im.summary_line(view), plain("\n"), *next_step(view, actor.id)]))
    if len(ids) > HOME_LIMIT:
        blocks.append(Context(spans=[plain(f"…and {len(ids) - HOME_LIMIT} more: `/cx improve` lists them.")]))
    return blocks


# --- the weekly digest -----------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    id: int
    title: str
    what: str         # "check-in 3", "30-day revisit", "target date"
    metric: Metric
    value: float | None
    n: int
    change: float | None
    low: float | None
    high: float | None
    enough: bool
    regressed: bool


@dataclass(frozen=True)
class ImprovementsWeek:
    """What happened to the team's improvements in the digest's week."""

    moved: list[tuple[int, str, str, str]] = field(default_factory=list)  # (id, title, from, to)
    measured: list[Measured] = field(default_factory=list)
    started: list[tuple[int, str]] = field(default_factory=list)
    under_way: int = 0

    @property
    def empty(self) -> bool:
        return not (self.moved or self.measured or self.started)


def _what(m: ImprovementMeasure) -> str:
    if m.kind == "check":
        return f"check-in {m.label.rsplit(':', 1)[-1]}"
    if m.kind == "revisit":
        return f"{m.label.rsplit(':', 1)[-1]}-day revisit"
    return "target date"


def digest_week(session: Session, team: str, start: datetime, end: datetime) -> ImprovementsWeek:
    """The team's improvements that started, moved stage or were measured in [start, end)."""
    imps = {i.id: i for i in session.exec(select(Improvement).where(Improvement.team == team))}
    if not imps:
        return ImprovementsWeek()
    ids = list(imps)
    events = list(session.exec(select(ImprovementEvent).where(
        ImprovementEvent.improvement_id.in_(ids), ImprovementEvent.kind.in_(["stage", "started"]),  # type: ignore[attr-defined]
        ImprovementEvent.at >= start, ImprovementEvent.at < end).order_by(ImprovementEvent.at, ImprovementEvent.id)))
    moved = [(e.improvement_id, imps[e.improvement_id].title, Stage((e.detail or {})["from"]).label,
              Stage((e.detail or {})["to"]).label) for e in events if e.kind == "stage"]
    started = [(e.improvement_id, imps[e.improvement_id].title) for e in events if e.kind == "started"]
    rows = session.exec(select(ImprovementMeasure).where(
        ImprovementMeasure.improvement_id.in_(ids), ImprovementMeasure.at >= start,  # type: ignore[attr-defined]
        ImprovementMeasure.at < end).order_by(ImprovementMeasure.at, ImprovementMeasure.id))
    measured = [Measured(id=m.improvement_id, title=imps[m.improvement_id].title, what=_what(m),
                         metric=Metric(imps[m.improvement_id].metric), value=m.value, n=m.n, change=m.change,
                         low=m.change_low, high=m.change_high, enough=m.enough, regressed=m.regressed) for m in rows]
    return ImprovementsWeek(moved=moved, measured=measured, started=started,
                            under_way=sum(1 for i in imps.values() if Stage(i.stage).is_open))


def digest_blocks(week: ImprovementsWeek | None) -> list[Block]:
    """The digest's "Improvements" section (nothing when nothing happened)."""
    if week is None or week.empty:
        return []
    lines: list[str] = []
    for imp_id, title in week.started:
        lines.append(f"• #{imp_id} {title}: started")
    for imp_id, title, was, now in week.moved:
        lines.append(f"• #{imp_id} {title}: moved from {was} to {now}")
    for m in week.measured:
        if m.regressed:
            lines.append(f"• ⚠️ #{m.id} {m.title}: slipping back at its {m.what} "
                         f"({im.figure(m.metric, m.value)} from {m.n} answers)")
        elif not m.enough:
            lines.append(f"• #{m.id} {m.title}, {m.what}: {m.n} answers so far, too few to judge")
        elif m.change is None:
            lines.append(f"• #{m.id} {m.title}, {m.what}: {im.figure(m.metric, m.value)} ({m.n} answers)")
        else:
            iv = "" if m.low is None else f", 95% interval {im.points(m.metric, m.low)} to {im.points(m.metric, m.high or 0)}"
            lines.append(f"• #{m.id} {m.title}, {m.what}: {im.figure(m.metric, m.value)} ({m.n} answers), "
                         f"{im.points(m.metric, m.change)} on the baseline{iv}")
    return [Section(spans=[bold(f"🔧 Improvements ({week.under_way} under way)")]),
            Section(spans=[plain("\n".join(lines))])]


# --- `cxloop improvements` -------------------------------------------------------------------


def rows(session: Session, ws: Workspace, *, team: str | None = None, now: datetime) -> list[dict[str, Any]]:
    """Every improvement not closed or cancelled (of `team`, when given), as plain data."""
    q = select(Improvement).where(Improvement.stage.in_(ACTIVE)).order_by(Improvement.id)  # type: ignore[attr-defined]
    if team:
        q = q.where(Improvement.team == team)
    out = []
    for imp in session.exec(q):
        view = load_view(session, ws, imp.id)  # type: ignore[arg-type]
        names = {m.id: m.name for m in session.exec(select(Member).where(
            Member.id.in_(owner_ids(session, imp.id))))}  # type: ignore[union-attr,arg-type]
        latest = view.latest
        out.append({
            "id": imp.id, "team": imp.team, "title": imp.title, "stage": imp.stage,
            "owners": [names.get(i) for i in owner_ids(session, imp.id)],  # type: ignore[arg-type]
            "segment": {"touchpoint": imp.touchpoint, "theme": imp.theme, "root_cause": imp.root_cause},
            "metric": imp.metric,
            "baseline": {"value": imp.baseline_value, "responses": imp.baseline_n, "low": imp.baseline_low,
                         "high": imp.baseline_high},
            "latest": None if latest is None else {"value": latest.value, "responses": latest.n,
                                                   "change": latest.change, "at": latest.at.isoformat()},
            "target": {"value": imp.target_value, "date": imp.target_date.isoformat()},
            "open_actions": len(view.open_actions),
            "cases_since_change": linked_cases(session, ws, imp, imp.change_started_at, now)
            if imp.change_started_at else None,
        })
    return out
