"""Customer Service Week: the first full Monday–Friday week of October, one prompt a day per team.

A week before, every manager gets the plan. Each day at the configured time (workspace zone) each
team channel gets that day's prompt: Monday the kick-off and the pledge, Tuesday thank-you notes,
Wednesday a game, Thursday customer stories, Friday the wrap-up; on Tuesday and Thursday the
team's managers also get a DM. Every piece is claimed in `job_claim` (`csweek:{year}:{day}:{team}`,
`csweek:{year}:heads-up:{member}`), so it happens once; a run missed at the set time catches up
later the same day, and a day's prompt is never posted on another day.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.recognition import messages as rm
from bot.config import Workspace
from bot.errors import BadInput, InvalidState, NotAllowed, NotFound
from bot.chat.messages import Form
from bot.cases.notify import channel_targets
from bot.machinery.queueing import enqueue
from bot.recognition.shoutouts import (
    dm_in_working_hours,
    post_to_team,
    recognition_between,
    team_title,
    update_post,
)
from bot.people.roster import Actor, person_ref, team_managers, team_members
from bot.machinery.schedule import claim, due_job
from storage.db import session_scope
from storage.models import Case, Member, OutboxMessage, Pledge, Shoutout, Story, SurveyResponse

log = logging.getLogger(__name__)

# Until the workspace YAML has `cs_week: {start: 2026-10-05, time: "09:30", enabled: true}`:
ENABLED = True
DEFAULT_TIME = time(9, 30)
START: date | None = None  # a Monday that overrides the default week, for that year only

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
MAX_STORY = 2000
LOOK_BACK = timedelta(days=7)  # Thursday's DM: what the team did in the last seven days


@dataclass(frozen=True)
class CsWeekConfig:
    enabled: bool
    start: date | None
    time: time


def config_for(ws: Workspace) -> CsWeekConfig:
    cfg = getattr(ws, "cs_week", None)
    if cfg is not None:
        return CsWeekConfig(enabled=cfg.enabled, start=cfg.start, time=cfg.time)
    return CsWeekConfig(enabled=ENABLED, start=START, time=DEFAULT_TIME)


def first_full_week(year: int) -> date:
    """Monday of the first Monday–Friday week wholly in October (the first Monday of October)."""
    oct1 = date(year, 10, 1)
    return oct1 + timedelta(days=(7 - oct1.weekday()) % 7)


def week_start(year: int, cfg: CsWeekConfig) -> date:
    if cfg.start is not None and cfg.start.year == year:
        return cfg.start
    return first_full_week(year)


def _at(d: date, t: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(d, t, tzinfo=zone)


@dataclass(frozen=True)
class Week:
    year: int
    monday: date
    opens: datetime   # Monday at the prompt time: kick-off
    closes: datetime  # the end of Friday


def week_of(ws: Workspace, year: int) -> Week:
    cfg = config_for(ws)
    monday = week_start(year, cfg)
    return Week(year=year, monday=monday, opens=_at(monday, cfg.time, ws.zone),
                closes=_at(monday + timedelta(days=5), time(0), ws.zone))


def _require_open(ws: Workspace, year: int, now: datetime, what: str) -> Week:
    week = week_of(ws, year)
    if now < week.opens:
        raise InvalidState(f"{what} opens when Customer Service Week starts, on {rm.short_date(week.monday)}.")
    if now >= week.closes:
        raise InvalidState(f"Customer Service Week {year} is over: thank you! {what} comes back next October.")
    return week


def _require_team(ws: Workspace, team: str) -> None:
    try:
        ws.team(team)
    except KeyError:
        raise NotFound(f"There is no team {team!r}.") from None


def _require_member(ws: Workspace, actor: Actor, team: str, what: str) -> None:
    """Only the team's own people (members and managers) pledge or share a story for it; admins are no exception.

    The team comes from the button, which anyone who can see the post can click.
    """
    if team not in actor.teams:
        raise NotAllowed(f"{what} is for members of the {team_title(ws, team)} team, and you're not in it. "
                         "Nothing was recorded.")


# --- the due job -----------------------------------------------------------------------------


@due_job("csweek")
def queue_cs_week(engine: Engine, ws: Workspace, now: datetime) -> int:
    """Queue what Customer Service Week has due at `now`: the managers' heads-up or today's prompts."""
    cfg = config_for(ws)
    if not cfg.enabled:
        return 0
    local = now.astimezone(ws.zone)
    week = week_of(ws, local.year)
    # The heads-up is due from the Monday before at the prompt time; a missed one catches up until the
    # week itself begins (after that it would no longer be a heads-up).
    if _at(week.monday - timedelta(days=7), cfg.time, ws.zone) <= now < _at(week.monday, time(0), ws.zone):
        return _heads_up(engine, ws, week, cfg, now)
    offset = (local.date() - week.monday).days
    if 0 <= offset < len(DAYS) and now >= _at(local.date(), cfg.time, ws.zone):
        return _day(engine, ws, week, DAYS[offset], now)
    return 0


def _heads_up(engine: Engine, ws: Workspace, week: Week, cfg: CsWeekConfig, now: datetime) -> int:
    sent = 0
    with session_scope(engine) as s:
        managed: dict[int, tuple[Member, list[str]]] = {}
        for t in ws.teams:
            for m in team_managers(s, t.key):
                managed.setdefault(m.id, (m, []))[1].append(t.title)  # type: ignore[arg-type]
        for mid, (manager, titles) in managed.items():
            try:
                with s.begin_nested():
                    key = f"csweek:{week.year}:heads-up:{mid}"
                    if not claim(s, key):
                        continue
                    msg = rm.heads_up(week.monday, week.year, titles, cfg.time, ws.timezone)
                    dm_in_working_hours(s, ws, manager, key, msg, now)
                    sent += 1
            except Exception:  # one manager's failure never stops the others
                log.exception("Customer Service Week heads-up to member %s failed", mid)
    return sent


def _day(engine: Engine, ws: Workspace, week: Week, day: str, now: datetime) -> int:
    sent = 0
    with session_scope(engine) as s:
        for t in ws.teams:
            try:
                with s.begin_nested():
                    if not claim(s, f"csweek:{week.year}:{day}:{t.key}"):
                        continue
                    _DAY_WORK[day](s, ws, week, t.key, now)
                    sent += 1
            except Exception:  # one team's failure never stops the others; it is retried next run
                log.exception("Customer Service Week %s for team %s failed", day, t.key)
    return sent


def _post_key(week: Week, day: str, team: str) -> str:
    return f"csweek:{week.year}:{day}:{team}"


def _monday(s: Session, ws: Workspace, week: Week, team: str, now: datetime) -> None:
    post_to_team(s, ws, team, _post_key(week, "monday", team),
                 rm.kickoff(week.year, team, team_title(ws, team), week.monday, _pledges(s, week.year, team)))


def _tuesday(s: Session, ws: Workspace, week: Week, team: str, now: datetime) -> None:
    post_to_team(s, ws, team, _post_key(week, "tuesday", team), rm.thanks_day(week.year))
    members = [person_ref(m) for m in team_members(s, team)]
    msg = rm.manager_thanks(team_title(ws, team), members)
    for m in team_managers(s, team):
        dm_in_working_hours(s, ws, m, f"{_post_key(week, 'tuesday', team)}:manager:{m.id}", msg, now)


def _wednesday(s: Session, ws: Workspace, week: Week, team: str, now: datetime) -> None:
    key = _post_key(week, "wednesday", team)
    post_to_team(s, ws, team, key, rm.fun_day(week.year))
    post_to_team(s, ws, team, f"{key}:rules", rm.fun_thread(week.year), thread_key=key)


def _thursday(s: Session, ws: Workspace, week: Week, team: str, now: datetime) -> None:
    post_to_team(s, ws, team, _post_key(week, "thursday", team), rm.love_day(week.year, team))
    since = now - LOOK_BACK
    msg = rm.manager_love(team_title(ws, team), since, _resolved_lines(s, team, since, now), _kudos_lines(s, team, since, now))
    for m in team_managers(s, team):
        dm_in_working_hours(s, ws, m, f"{_post_key(week, 'thursday', team)}:manager:{m.id}", msg, now)


def _friday(s: Session, ws: Workspace, week: Week, team: str, now: datetime) -> None:
    post_to_team(s, ws, team, _post_key(week, "friday", team),
                 rm.wrap_up(week.year, team_title(ws, team), week_stats(s, ws, week, team, now)))


_DAY_WORK = {"monday": _monday, "tuesday": _tuesday, "wednesday": _wednesday, "thursday": _thursday,
             "friday": _friday}


# --- what the prompts show -------------------------------------------------------------------


def _count(s: Session, q) -> int:  # type: ignore[no-untyped-def]
    return int(s.exec(q).one())


def _pledges(s: Session, year: int, team: str | None = None) -> int:
    q = select(func.count(Pledge.id)).where(Pledge.year == year)
    if team is not None:
        q = q.where(Pledge.team == team)
    return _count(s, q)


def _refs(s: Session, ids: set[int]) -> dict[int, Member]:
    if not ids:
        return {}
    return {m.id: m for m in s.exec(select(Member).where(Member.id.in_(ids)))}  # type: ignore[union-attr,misc]


def _resolved_lines(s: Session, team: str, since: datetime, until: datetime) -> list[rm.ResolvedLine]:
    rows = list(s.exec(select(Case, SurveyResponse).join(SurveyResponse, SurveyResponse.id == Case.response_id)
                       .where(Case.team == team, Case.resolved_at.is_not(None), Case.resolved_at >= since,  # type: ignore[union-attr,operator]
                              Case.resolved_at <= until).order_by(Case.resolved_at, Case.id)))
    people = _refs(s, {c.owner_id for c, _ in rows if c.owner_id})
    out = []
    for c, r in rows:
        owner = people.get(c.owner_id) if c.owner_id else None
        closed = c.loop_closed_at is not None
        out.append(rm.ResolvedLine(case_id=c.id, survey=r.survey, score=r.score, touchpoint=r.touchpoint,  # type: ignore[arg-type]
                                   owner=person_ref(owner) if owner else None, resolved_at=c.resolved_at,  # type: ignore[arg-type]
                                   loop_closed=closed, within_sla=bool(closed and c.resolve_due_at
                                                                       and c.loop_closed_at <= c.resolve_due_at)))  # type: ignore[operator]
    return out


def _kudos_lines(s: Session, team: str, since: datetime, until: datetime) -> list[rm.KudosLine]:
    rows = recognition_between(s, since=since, until=until + timedelta(microseconds=1), team=team,
                               sources=("peer", "customer"))
    people = _refs(s, {r.to_member_id for r in rows} | {r.from_member_id for r in rows if r.from_member_id})
    out = []
    for r in rows:
        to = people.get(r.to_member_id)
        if to is None:
            continue
        giver = people.get(r.from_member_id) if r.from_member_id else None
        out.append(rm.KudosLine(to=person_ref(to), giver=person_ref(giver) if giver else None, text=r.text,
                                at=r.created_at))
    return out


def week_stats(s: Session, ws: Workspace, week: Week, team: str, now: datetime) -> rm.WeekStats:
    """The week so far (from Monday 00:00 in the workspace zone to `now`), for one team and for everyone."""
    since = _at(week.monday, time(0), ws.zone)

    def shoutouts(source: str, for_team: str | None) -> int:
        q = select(func.count(Shoutout.id)).where(Shoutout.source == source, Shoutout.created_at >= since,
                                                  Shoutout.created_at <= now,
                                                  Shoutout.status.in_(["posted", "recorded"]))  # type: ignore[attr-defined]
        return _count(s, q.where(Shoutout.team == for_team) if for_team else q)

    def stories(for_team: str | None) -> int:
        q = select(func.count(Story.id)).where(Story.at >= since, Story.at <= now)
        return _count(s, q.where(Story.team == for_team) if for_team else q)

    return rm.WeekStats(pledges_team=_pledges(s, week.year, team), pledges_all=_pledges(s, week.year),
                        kudos_team=shoutouts("peer", team), kudos_all=shoutouts("peer", None),
                        praise_team=shoutouts("customer", team), stories_team=stories(team),
                        stories_all=stories(None), loops_team=shoutouts("loop", team))


# --- what people do: the pledge and customer stories -----------------------------------------


def take_pledge(session: Session, ws: Workspace, actor: Actor, *, year: int, team: str, now: datetime) -> str:
    """Record the caller's pledge (once a year) and update the count on the team's kick-off post."""
    _require_team(ws, team)
    _require_member(ws, actor, team, "This pledge")
    week = _require_open(ws, year, now, "The pledge")
    taken = session.exec(select(Pledge).where(Pledge.year == year, Pledge.member_id == actor.id)).first()
    already = f"You already took the {year} pledge. Thank you!"
    if taken is not None:
        raise InvalidState(already)
    pledge = Pledge(year=year, member_id=actor.id, team=team, at=now)
    try:
        with session.begin_nested():
            session.add(pledge)
    except IntegrityError:  # the same person clicking twice at once
        raise InvalidState(already) from None
    team_count = _pledges(session, year, team)
    msg = rm.kickoff(year, team, team_title(ws, team), week.monday, team_count)
    for platform, _ in channel_targets(ws, team):
        anchor = f"{platform}:{_post_key(week, 'monday', team)}"
        update_post(session, anchor, f"{anchor}:pledge:{pledge.id}", msg)
    return rm.pledge_thanks(team_count, _pledges(session, year))


def story_form(ws: Workspace, actor: Actor, *, year: int, team: str, now: datetime, channel: str | None = None
               ) -> Form:
    """The form for sharing a customer story, while the week is on, for the team's own people."""
    _require_team(ws, team)
    _require_member(ws, actor, team, "Sharing a story here")
    _require_open(ws, year, now, "Story sharing")
    return rm.story_form(year, team, channel)


def share_story(session: Session, ws: Workspace, actor: Actor, *, year: int, team: str, text: str | None,
                now: datetime) -> Story:
    """Keep a customer story and post it in the thread of the team's Thursday prompt."""
    _require_team(ws, team)
    _require_member(ws, actor, team, "Sharing a story here")
    week = _require_open(ws, year, now, "Story sharing")
    text = (text or "").strip()
    if not text:
        raise BadInput("Write your story first.", field="story")
    if len(text) > MAX_STORY:
        raise BadInput(f"Your story is {len(text):,} characters; the most is {MAX_STORY:,}.", field="story")
    story = Story(member_id=actor.id, team=team, text=text, at=now)
    session.add(story)
    session.flush()
    msg = rm.story_post(actor.ref, text)
    parent = _post_key(week, "thursday", team)
    for platform, channel in channel_targets(ws, team):
        thread = f"{platform}:{parent}"
        has_parent = session.exec(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == thread)).first()
        enqueue(session, key=f"{platform}:csweek:story:{story.id}", platform=platform, action="post", target=channel,
                message=msg, thread_key=thread if has_parent else None)
    return story
