"""After an improvement changes: queue the edit of its post, the notes in its thread, DMs and App Home refreshes.

Every message goes through the outbox under a key that makes it once-only: the post is
`{platform}:improvement:{id}`, its edits `…:v{version}`, its history `…:event:{event id}`, its
measurements `…:measure:{measure id}`.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from bot.cases.notify import channel_targets, member_targets, refresh_homes
from bot.cases.sla import next_working_instant
from bot.chat.messages import Message
from bot.config import Workspace
from bot.improvement import messages as im
from bot.improvement.links import linked_cases
from bot.improvement.service import ImprovementView, load_view, owners
from bot.machinery.queueing import enqueue
from bot.nudges.jobs import person_zone
from bot.people.roster import person_ref
from storage.models import Improvement, ImprovementAction, ImprovementEvent, Member


def post_key(platform: str, imp_id: int) -> str:
    return f"{platform}:improvement:{imp_id}"


def team_channels(ws: Workspace, team: str) -> list[tuple[str, str]]:
    """The team's own channels (none for a team no longer in the workspace)."""
    if team not in {t.key for t in ws.teams}:
        return []
    return channel_targets(ws, team)


def card(session: Session, ws: Workspace, view: ImprovementView, now: datetime) -> Message:
    imp = view.imp
    cases = linked_cases(session, ws, imp, imp.change_started_at, now) if imp.change_started_at else None
    return im.improvement_message(view, cases=cases)


def in_thread(session: Session, ws: Workspace, imp: Improvement, suffix: str, message: Message) -> None:
    """A message in the improvement's thread, in each of its team's channels."""
    for platform, channel in team_channels(ws, imp.team):
        root = post_key(platform, imp.id)  # type: ignore[arg-type]
        enqueue(session, key=f"{root}:{suffix}", platform=platform, action="post", target=channel,
                message=message, thread_key=root)


def chart_in_thread(session: Session, ws: Workspace, imp: Improvement, suffix: str, message: Message) -> None:
    """A picture in the improvement's thread (its own upload row, retried on its own)."""
    for platform, channel in team_channels(ws, imp.team):
        root = post_key(platform, imp.id)  # type: ignore[arg-type]
        enqueue(session, key=f"{root}:{suffix}", platform=platform, action="upload", target=channel,
                message=message, thread_key=root)


def to_people(session: Session, ws: Workspace, people: list[Member], key: str, message: Message,
              now: datetime) -> None:
    """A DM to each person, held for their working hours (as case nudges are)."""
    seen: set[int] = set()
    for m in people:
        if m.id is None or m.id in seen:
            continue
        seen.add(m.id)
        at = next_working_instant(now, person_zone(m, ws), ws.business_hours)
        for platform, user in member_targets(m):
            enqueue(session, key=f"{platform}:{key}:to:{m.id}", platform=platform, action="dm", target=user,
                    message=message, not_before=at)


def _homes(session: Session, imp: Improvement) -> None:
    ids = {a for a in session.exec(select(ImprovementAction.owner_id).where(ImprovementAction.improvement_id == imp.id))}
    people = owners(session, imp.id) + [m for m in (session.get(Member, i) for i in ids) if m]  # type: ignore[arg-type]
    refresh_homes(session, people)


def publish_started(session: Session, ws: Workspace, imp: Improvement, event: ImprovementEvent, now: datetime, *,
                    huddle_post: str | None = None) -> None:
    """The new improvement's post in its team channel, its first history line, and a note in the huddle's thread."""
    view = load_view(session, ws, imp.id)  # type: ignore[arg-type]
    msg = card(session, ws, view, now)
    for platform, channel in team_channels(ws, imp.team):
        enqueue(session, key=post_key(platform, imp.id), platform=platform, action="post", target=channel,  # type: ignore[arg-type]
                message=msg)
    _notes(session, ws, view, [event])
    if huddle_post:
        actor = session.get(Member, event.actor_id) if event.actor_id else None
        note = im.started_from_huddle(view, person_ref(actor) if actor else None)
        for platform, channel in team_channels(ws, imp.team):
            root = f"{platform}:{huddle_post}"
            enqueue(session, key=f"{root}:started:{imp.id}", platform=platform, action="post", target=channel,
                    message=note, thread_key=root)
    _homes(session, imp)


def _notes(session: Session, ws: Workspace, view: ImprovementView, events: list[ImprovementEvent]) -> None:
    for ev in events:
        actor = session.get(Member, ev.actor_id) if ev.actor_id else None
        note = im.event_message(view, ev, person_ref(actor) if actor else None)
        if note is not None:
            in_thread(session, ws, view.imp, f"event:{ev.id}", note)


def refresh_post(session: Session, ws: Workspace, imp: Improvement, now: datetime) -> ImprovementView:
    """Edit the improvement's post to show it as it is now."""
    view = load_view(session, ws, imp.id)  # type: ignore[arg-type]
    msg = card(session, ws, view, now)
    for platform, channel in team_channels(ws, imp.team):
        root = post_key(platform, imp.id)  # type: ignore[arg-type]
        enqueue(session, key=f"{root}:v{imp.version}", platform=platform, action="update", target=channel,
                message=msg, anchor_key=root)
    return view


def publish_change(session: Session, ws: Workspace, imp: Improvement, event: ImprovementEvent, now: datetime) -> None:
    """What people should see after `event` (and any it led to): the edited post, notes, App Homes."""
    view = refresh_post(session, ws, imp, now)
    events = list(session.exec(select(ImprovementEvent).where(ImprovementEvent.improvement_id == imp.id,
                                                              ImprovementEvent.id >= event.id)
                               .order_by(ImprovementEvent.id)))
    _notes(session, ws, view, events)
    _homes(session, imp)
