"""Improvements: starting one (with the baseline the bot computes), moving it through Plan, Do, Check,
Act and Control, its owners and plan actions, its target. The rules and permissions live here.

Who may do what (the same for Slack and Teams, buttons, forms and commands):
- start an improvement: a member or manager of its team (admins: any team); its owners must belong
  to the team;
- move its stage, add actions, extend its target, reopen it: one of its owners or a manager of its
  team;
- tick or snooze a plan action: the action's owner, an owner of the improvement, or a team manager.
A refusal raises before anything is written, so it changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time as Clock, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from bot.assist.service import workspace_themes
from bot.assist.themes import ThemeSet
from bot.cases.resolved import RootCause
from bot.chat.messages import PersonRef
from bot.config import Workspace, format_duration
from bot.errors import BadInput, InvalidState, NotAllowed, NotFound
from bot.improvement.enums import MOVES, Metric, Stage
from bot.improvement.measure import Measure, Segment, meets, measure
from bot.people.roster import Actor, actor_for, person_ref
from storage.models import (
    Improvement,
    ImprovementAction,
    ImprovementEvent,
    ImprovementMeasure,
    ImprovementOwner,
    Member,
)

BASELINE_WEEKS = 8
MAX_TITLE = 200
MAX_PROBLEM = 3000
MAX_NOTE = 1000
MAX_ACTION = 300
MAX_ID = 2**31 - 1  # PostgreSQL `integer` ids: a bigger number is no improvement, never a database error
_NUMBER = re.compile(r"[-+−]?\d+(?:[.,]\d+)?")


def theme_set(ws: Workspace) -> ThemeSet:
    return workspace_themes(ws) or ThemeSet()


# --- loading ---------------------------------------------------------------------------------


def get(session: Session, imp_id: int) -> Improvement:
    found = session.get(Improvement, imp_id) if 0 < imp_id <= MAX_ID else None
    if found is None:
        raise NotFound(f"There is no improvement #{imp_id}.")
    return found


def number(token: str, *, usage: str) -> int:
    """`4` or `#4` typed in a command, as an improvement id."""
    digits = token.strip().lstrip("#")
    if not digits or not (digits.isascii() and digits.isdigit()):
        raise BadInput(usage)
    if len(digits) > len(str(MAX_ID)) or not 0 < int(digits) <= MAX_ID:
        raise NotFound(f"There is no improvement #{digits[:32]}.")
    return int(digits)


def owner_ids(session: Session, imp_id: int) -> list[int]:
    return list(session.exec(select(ImprovementOwner.member_id).where(ImprovementOwner.improvement_id == imp_id)
                             .order_by(ImprovementOwner.id)))


def owners(session: Session, imp_id: int) -> list[Member]:
    ids = owner_ids(session, imp_id)
    found = {m.id: m for m in session.exec(select(Member).where(Member.id.in_(ids)))} if ids else {}  # type: ignore[union-attr]
    return [found[i] for i in ids if i in found]


def segment_of(imp: Improvement) -> Segment:
    return Segment(team=imp.team, touchpoint=imp.touchpoint, theme=imp.theme, root_cause=imp.root_cause)


def baseline_of(imp: Improvement) -> Measure:
    return Measure(metric=Metric(imp.metric), n=imp.baseline_n, hits=imp.baseline_hits,
                   detractors=imp.baseline_detractors)


@dataclass
class ImprovementView:
    """Everything needed to show an improvement, loaded once."""

    imp: Improvement
    team_title: str
    owners: list[PersonRef]
    actions: list[tuple[ImprovementAction, PersonRef | None]]
    latest: ImprovementMeasure | None
    zone: ZoneInfo

    @property
    def id(self) -> int:
        assert self.imp.id is not None
        return self.imp.id

    @property
    def stage(self) -> Stage:
        return Stage(self.imp.stage)

    @property
    def metric(self) -> Metric:
        return Metric(self.imp.metric)

    @property
    def open_actions(self) -> list[tuple[ImprovementAction, PersonRef | None]]:
        return [(a, p) for a, p in self.actions if a.done_at is None]


def latest_measure(session: Session, imp: Improvement) -> ImprovementMeasure | None:
    return session.exec(select(ImprovementMeasure).where(ImprovementMeasure.improvement_id == imp.id,
                                                         ImprovementMeasure.kind != "target")
                        .order_by(ImprovementMeasure.at.desc(), ImprovementMeasure.id.desc())).first()  # type: ignore[attr-defined]


def load_view(session: Session, ws: Workspace, imp_id: int) -> ImprovementView:
    imp = get(session, imp_id)
    acts = list(session.exec(select(ImprovementAction).where(ImprovementAction.improvement_id == imp.id)
                             .order_by(ImprovementAction.due_at, ImprovementAction.id)))
    ids = {a.owner_id for a in acts} | set(owner_ids(session, imp_id))
    people = {m.id: person_ref(m) for m in session.exec(select(Member).where(Member.id.in_(ids)))} if ids else {}  # type: ignore[union-attr]
    try:
        title = ws.team(imp.team).title
    except KeyError:
        title = imp.team
    return ImprovementView(imp=imp, team_title=title, owners=[people[i] for i in owner_ids(session, imp_id) if i in people],
                           actions=[(a, people.get(a.owner_id)) for a in acts], latest=latest_measure(session, imp),
                           zone=ws.zone)


# --- permissions -----------------------------------------------------------------------------


def require_team(actor: Actor, ws: Workspace, team: str, doing: str) -> None:
    if team not in {t.key for t in ws.teams}:
        raise NotFound(f"There is no team `{team}`; teams: {', '.join(t.key for t in ws.teams)}.")
    if not actor.in_team(team):
        raise NotAllowed(f"Only members and managers of the {ws.team(team).title} team can {doing}.")


def is_owner(session: Session, actor: Actor, imp: Improvement) -> bool:
    return actor.id in owner_ids(session, imp.id)  # type: ignore[arg-type]


def require_steward(session: Session, actor: Actor, imp: Improvement, doing: str) -> None:
    """Only an owner of the improvement or a manager of its team (or an admin)."""
    if actor.manages_team(imp.team) or is_owner(session, actor, imp):
        return
    raise NotAllowed(f"Only an owner of improvement #{imp.id} or a manager of the {imp.team} team can {doing}.")


def require_open(imp: Improvement, doing: str) -> None:
    stage = Stage(imp.stage)
    if not stage.is_open:
        raise InvalidState(f"Improvement #{imp.id} is {stage.label.lower()}; reopen it before you {doing}.")


def _belongs(session: Session, member: Member, team: str, what: str) -> None:
    if not actor_for(session, member).in_team(team):
        raise NotAllowed(f"{member.name or 'That person'} is not in the {team} team, so they can't {what}; "
                         f"add them to the team first (`/cx team add`) or pick a member.")


# --- input -----------------------------------------------------------------------------------


def _text(value: str | None, *, field: str, what: str, limit: int, required: bool = True) -> str | None:
    value = " ".join((value or "").split()) if field != "problem" else (value or "").strip()
    if not value:
        if required:
            raise BadInput(f"{what} is required.", field=field)
        return None
    if len(value) > limit:
        raise BadInput(f"{what} is too long ({len(value)} characters; at most {limit}).", field=field)
    return value


def parse_target(raw: str | None, metric: Metric) -> float:
    """The number in a target such as `25`, `NPS 25` or `30%`; refused without exactly one number."""
    what = "the share you aim for, such as 15%" if metric is Metric.THEME_SHARE else f"the {metric.label} you aim for, such as 25"
    found = _NUMBER.findall(raw or "")
    if not found:
        raise BadInput(f"A SMART target needs a number: {what}.", field="target")
    if len(found) > 1:
        raise BadInput(f"Give one number as the target ({what}), not {len(found)}.", field="target")
    value = float(found[0].replace("−", "-").replace(",", "."))
    if not metric.low <= value <= 100:
        raise BadInput(f"A {metric.label} target must be from {metric.low:g} to 100; {value:g} is not.", field="target")
    return value


def target_day(epoch: Any, ws: Workspace, now: datetime, *, field: str = "target_date") -> date:
    """The local date of a picked date-time; refused when missing or not in the future."""
    if epoch in (None, ""):
        raise BadInput("A SMART target needs a date: when the target should be met.", field=field)
    try:
        day = datetime.fromtimestamp(int(epoch), tz=timezone.utc).astimezone(ws.zone).date()
    except (TypeError, ValueError, OverflowError, OSError):
        raise BadInput("That is not a date; pick one with the date picker.", field=field) from None
    today = now.astimezone(ws.zone).date()
    if day <= today:
        raise BadInput(f"The target date must be after today ({today.isoformat()}).", field=field)
    if day > today + timedelta(days=3 * 366):
        raise BadInput("The target date must be within three years.", field=field)
    return day


def day_end(day: date, ws: Workspace) -> datetime:
    """The end of `day` in the workspace time zone: when a target date has passed."""
    return datetime.combine(day + timedelta(days=1), Clock(0), tzinfo=ws.zone).astimezone(timezone.utc)


def _better_than_baseline(metric: Metric, target: float, baseline: float | None) -> None:
    if baseline is None:
        return
    ok = target > baseline if metric.higher_is_better else target < baseline
    if not ok:
        side = "above" if metric.higher_is_better else "below"
        raise BadInput(f"A target of {target:g} is no better than the baseline ({baseline:g} over the "
                       f"{BASELINE_WEEKS} weeks before today); aim {side} it.", field="target")


# --- changes ---------------------------------------------------------------------------------


def record(session: Session, imp: Improvement, kind: str, actor: Actor | None, now: datetime,
           **detail: Any) -> ImprovementEvent:
    imp.version += 1
    ev = ImprovementEvent(improvement_id=imp.id, at=now, actor_id=actor.id if actor else None, kind=kind,  # type: ignore[arg-type]
                          detail={k: v for k, v in detail.items() if v is not None} or None)
    session.add(imp)
    session.add(ev)
    session.flush()
    return ev


def start(session: Session, ws: Workspace, actor: Actor, *, team: str, title: str | None, problem: str | None,
          owners_: list[Member], metric: str | None, target: str | None, target_date: Any,
          touchpoint: str | None = None, theme: str | None = None, root_cause: str | None = None,
          pattern: str | None = None, now: datetime) -> ImprovementEvent:
    """Start an improvement: checked whole first, then stored with its baseline."""
    require_team(actor, ws, team, "start an improvement for it")
    title = _text(title, field="title", what="A title", limit=MAX_TITLE)
    problem = _text(problem, field="problem", what="The problem statement", limit=MAX_PROBLEM)
    try:
        kind = Metric(metric or "")
    except ValueError:
        raise BadInput("Choose the metric: NPS, CSAT, CES, or the share of comments raising the theme.",
                       field="metric") from None
    themes = theme_set(ws)
    if theme and theme not in themes.themes:
        raise BadInput(f"{theme!r} is not one of the themes ({', '.join(themes.themes)}).", field="theme")
    if kind is Metric.THEME_SHARE and not theme:
        raise BadInput("A theme's share needs the theme: choose one.", field="theme")
    tps = ws.team(team).touchpoints
    if touchpoint and touchpoint.lower() not in tps:
        raise BadInput(f"{touchpoint!r} is not one of the {team} team's touchpoints "
                       f"({', '.join(tps) or 'none'}).", field="touchpoint")
    if root_cause:
        try:
            RootCause(root_cause)
        except ValueError:
            raise BadInput(f"{root_cause!r} is not a root-cause area.", field="root_cause") from None
    value = parse_target(target, kind)
    day = target_day(target_date, ws, now)
    if not owners_:
        owners_ = [actor.member]
    for m in owners_:
        _belongs(session, m, team, f"own an improvement of the {team} team")
    seg = Segment(team=team, touchpoint=touchpoint.lower() if touchpoint else None, theme=theme or None)
    since = now - timedelta(weeks=BASELINE_WEEKS)
    base = measure(session, seg, kind, since, now, themes=themes)
    _better_than_baseline(kind, value, base.value)
    iv = base.interval
    imp = Improvement(team=team, title=title or "", problem=problem or "", stage=Stage.PLAN.value,
                      touchpoint=seg.touchpoint, theme=seg.theme, root_cause=root_cause or None, metric=kind.value,
                      target_value=value, target_date=day, baseline_since=since, baseline_until=now,
                      baseline_n=base.n, baseline_hits=base.hits, baseline_detractors=base.detractors,
                      baseline_value=base.value, baseline_low=iv.low if iv else None,
                      baseline_high=iv.high if iv else None, pattern=pattern, created_by=actor.id, created_at=now)
    session.add(imp)
    session.flush()
    for m in dict.fromkeys(m.id for m in owners_):
        session.add(ImprovementOwner(improvement_id=imp.id, member_id=m))  # type: ignore[arg-type]
    return record(session, imp, "started", actor, now, pattern=pattern, owners=[m.id for m in owners_])


def _latest_check_met(session: Session, imp: Improvement) -> ImprovementMeasure | None:
    return session.exec(select(ImprovementMeasure).where(
        ImprovementMeasure.improvement_id == imp.id, ImprovementMeasure.kind.in_(["check", "target"]),  # type: ignore[attr-defined]
        ImprovementMeasure.since == imp.change_started_at).order_by(ImprovementMeasure.at.desc(),
                                                                      ImprovementMeasure.id.desc())).first()  # type: ignore[attr-defined]


def move(session: Session, ws: Workspace, actor: Actor, imp_id: int, to: str | Stage | None, *,
         note: str | None = None, now: datetime) -> ImprovementEvent:
    """Move an improvement to another stage, recording who, when and why."""
    imp = get(session, imp_id)
    require_steward(session, actor, imp, f"move improvement #{imp_id} to another stage")
    here = Stage(imp.stage)
    try:
        there = Stage(to) if to else None
    except ValueError:
        there = None
    allowed = MOVES[here]
    if there is None or there not in allowed:
        options = " or ".join(s.label for s in allowed) or "nowhere (it is cancelled)"
        raise InvalidState(f"Improvement #{imp_id} is in {here.label}; from there it can move to {options}.")
    note = _text(note, field="note", what="A reason" if there is Stage.CANCELLED else "The note", limit=MAX_NOTE,
                 required=there is Stage.CANCELLED)
    if there is Stage.DO and here is Stage.PLAN and not session.exec(
            select(ImprovementAction.id).where(ImprovementAction.improvement_id == imp.id)).first():
        raise InvalidState("Add at least one plan action (with an owner and a due date) before moving to Do.")
    if there is Stage.CONTROL:
        last = _latest_check_met(session, imp)
        if last is None or not last.met:
            shown = "no check-in yet" if last is None else (
                f"the latest: {Metric(imp.metric).label} {last.value if last.value is not None else '—'} "
                f"against a target of {imp.target_value:g}")
            raise InvalidState("Control locks in a gain: move there once a check-in has met the target "
                               f"({shown}).")
    imp.stage = there.value
    if there is Stage.DO:
        imp.change_started_at = now
    elif there is Stage.CONTROL:
        imp.control_started_at = now
        imp.slipping = False
    elif there is Stage.PLAN:
        imp.change_started_at = None
        imp.control_started_at = None
        imp.closed_at = None
        imp.slipping = False
    elif there in (Stage.CLOSED, Stage.CANCELLED):
        imp.closed_at = now
        if there is Stage.CANCELLED:
            imp.cancel_reason = note
    return record(session, imp, "stage", actor, now, **{"from": here.value, "to": there.value, "note": note})


def add_action(session: Session, ws: Workspace, actor: Actor, imp_id: int, *, title: str | None,
               owner: Member | None, due_at: datetime | None, now: datetime) -> ImprovementEvent:
    imp = get(session, imp_id)
    require_open(imp, "add actions")
    require_steward(session, actor, imp, f"add actions to improvement #{imp_id}")
    if Stage(imp.stage) is Stage.CONTROL:
        raise InvalidState(f"Improvement #{imp_id} is in Control: the fix is done. Move it back to Plan to change it.")
    title = _text(title, field="title", what="The action", limit=MAX_ACTION)
    if owner is None:
        raise BadInput("Choose who owns the action.", field="owner")
    _belongs(session, owner, imp.team, "own one of its actions")
    if due_at is None:
        raise BadInput("Give the action a due date.", field="due")
    if due_at <= now:
        raise BadInput("The due date must be in the future.", field="due")
    act = ImprovementAction(improvement_id=imp.id, title=title or "", owner_id=owner.id, due_at=due_at,  # type: ignore[arg-type]
                            created_at=now)
    session.add(act)
    session.flush()
    return record(session, imp, "action_added", actor, now, action=act.id, title=act.title, owner=owner.id,
                  due=due_at.isoformat())


def get_action(session: Session, action_id: int) -> ImprovementAction:
    act = session.get(ImprovementAction, action_id) if 0 < action_id <= MAX_ID else None
    if act is None:
        raise NotFound("That plan action no longer exists.")
    return act


def require_action_worker(session: Session, actor: Actor, imp: Improvement, act: ImprovementAction,
                           doing: str) -> None:
    if act.owner_id == actor.id or actor.manages_team(imp.team) or is_owner(session, actor, imp):
        return
    raise NotAllowed(f"Only the action's owner, an owner of improvement #{imp.id} or a manager of the "
                     f"{imp.team} team can {doing}.")


def _undone_action(session: Session, actor: Actor, action_id: int, *, open_for: str,
                   work: str) -> tuple[ImprovementAction, Improvement]:
    """A plan action not done yet, of an improvement still open (`open_for`: what cannot be done
    otherwise), that the actor may work (`work`: what they may not do otherwise)."""
    act = get_action(session, action_id)
    imp = get(session, act.improvement_id)
    require_open(imp, open_for)
    require_action_worker(session, actor, imp, act, work)
    if act.done_at is not None:
        raise InvalidState(f"“{act.title}” is already done.")
    return act, imp


def tick_action(session: Session, actor: Actor, action_id: int, *, now: datetime) -> ImprovementEvent:
    act, imp = _undone_action(session, actor, action_id, open_for="tick its actions", work="tick it")
    act.done_at, act.done_by = now, actor.id
    session.add(act)
    return record(session, imp, "action_done", actor, now, action=act.id, title=act.title)


def snooze_action(session: Session, ws: Workspace, actor: Actor, action_id: int, *, until: datetime,
                  reason: str | None, now: datetime) -> ImprovementEvent:
    act, imp = _undone_action(session, actor, action_id, open_for="snooze its actions",
                              work="snooze its reminders")
    reason = _text(reason, field="reason", what="A reason", limit=MAX_NOTE)
    longest = ws.sla_for(imp.team).snooze_max if imp.team in {t.key for t in ws.teams} else ws.sla.snooze_max
    if until <= now:
        raise BadInput("Snooze until a time in the future.", field="for")
    if until > now + longest:
        raise BadInput(f"Reminders can be snoozed for at most {format_duration(longest)}.", field="for")
    act.snoozed_until, act.snooze_reason = until, reason
    session.add(act)
    return record(session, imp, "action_snoozed", actor, now, action=act.id, until=until.isoformat(), reason=reason)


def extend_target(session: Session, ws: Workspace, actor: Actor, imp_id: int, *, target_date: Any,
                  target: str | None, note: str | None, now: datetime) -> ImprovementEvent:
    """A new target date (and, if given, a new target value), after the first was missed or to adjust."""
    imp = get(session, imp_id)
    require_open(imp, "change its target")
    require_steward(session, actor, imp, f"change the target of improvement #{imp_id}")
    day = target_day(target_date, ws, now)
    metric = Metric(imp.metric)
    value = parse_target(target, metric) if target and target.strip() else imp.target_value
    _better_than_baseline(metric, value, imp.baseline_value)
    note = _text(note, field="note", what="The note", limit=MAX_NOTE, required=False)
    before = (imp.target_value, imp.target_date.isoformat())
    imp.target_value, imp.target_date = value, day
    return record(session, imp, "target_changed", actor, now, old_value=before[0], old_date=before[1],
                  value=value, date=day.isoformat(), note=note)


def target_met_now(imp: Improvement, value: float | None) -> bool:
    return meets(Metric(imp.metric), value, imp.target_value)
