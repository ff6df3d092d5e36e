"""After a case changes: queue the alert edit, the thread note and the owner's DM in the outbox."""

from __future__ import annotations

import uuid

from sqlmodel import Session, select

from bot.cases import messages as cm
from bot.assist.results import Classification
from bot.assist.store import stored_classification
from bot.cases.service import load_view
from bot.config import Workspace
from bot.chat.messages import Message
from bot.improvement.links import case_notes
from bot.machinery.queueing import enqueue
from bot.people.roster import person_ref
from storage.models import Case, CaseEvent, Member
from storage.types import utcnow


def channel_targets(ws: Workspace, team: str) -> list[tuple[str, str]]:
    """(platform, channel) pairs where a team's alerts go."""
    try:
        t = ws.team(team)
    except KeyError:
        t = ws.team(ws.default_team)
    return _on_platforms(slack=t.slack_channel, teams=t.teams_channel)


def member_targets(member: Member) -> list[tuple[str, str]]:
    """(platform, user) pairs where a person can be messaged directly."""
    return _on_platforms(slack=member.slack_user_id, teams=member.teams_user_id)


def _on_platforms(**where: str | None) -> list[tuple[str, str]]:
    return [(platform, target) for platform, target in where.items() if target]


def alert_key(platform: str, case_id: int) -> str:
    return f"{platform}:case:{case_id}:alert"


def _read(session: Session, ws: Workspace, case: Case) -> tuple[cm.CaseView, Classification | None]:
    """What the alert and the owner's DM show, read once for both: the case and its response's themes."""
    view = load_view(session, ws, case.id)  # type: ignore[arg-type]
    return view, stored_classification(session, view.response.id)


def _alert(session: Session, ws: Workspace, view: cm.CaseView, insight: Classification | None) -> Message:
    notes = case_notes(session, ws, view.case, view.response, insight)
    return cm.alert_message(view, mask=ws.mask_email, insight=insight, notes=notes)


def publish_opened(session: Session, ws: Workspace, case: Case) -> None:
    """Queue the new case's alert (once per channel, ever) and, if cut, its full comment."""
    view, insight = _read(session, ws, case)
    msg = _alert(session, ws, view, insight)
    for platform, channel in channel_targets(ws, case.team):
        key = alert_key(platform, case.id)  # type: ignore[arg-type]
        enqueue(session, key=key, platform=platform, action="post", target=channel, message=msg, case_id=case.id)
        if view.response.comment and len(view.response.comment) > cm.PREVIEW_CHARS:
            for i, part in enumerate(cm.full_comment_messages(view)):
                enqueue(session, key=f"{key}:comment:{i}", platform=platform, action="post", target=channel,
                        message=part, thread_key=key, case_id=case.id)
    if case.owner_id is not None:
        _new_owner_dm(session, ws, case, view, insight)
    _homes_for_case(session, case)


def _new_owner_dm(session: Session, ws: Workspace, case: Case, view: cm.CaseView,
                  insight: Classification | None) -> None:
    owner = session.get(Member, case.owner_id)
    if owner is None:
        return
    base = f"case:{case.id}:dm:{owner.id}:v{case.version}"
    case.dm_key = base
    session.add(case)
    for platform, user in member_targets(owner):
        enqueue(session, key=f"{platform}:{base}", platform=platform, action="dm", target=user,
                message=cm.owner_message(view, mask=ws.mask_email, insight=insight), case_id=case.id)


def _note(session: Session, view: cm.CaseView, event: CaseEvent) -> Message:
    actor = session.get(Member, event.actor_id) if event.actor_id else None
    subject = None
    if event.detail and event.detail.get("owner_id"):
        m = session.get(Member, event.detail["owner_id"])
        subject = person_ref(m) if m else None
    return cm.event_message(view, event, person_ref(actor) if actor else None, subject)


def publish_change(session: Session, ws: Workspace, case: Case, event: CaseEvent) -> None:
    """Queue what people should see after `event` (and any it led to): edited alert, thread notes, DM."""
    view, insight = _read(session, ws, case)
    events = session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.id >= event.id)
                          .order_by(CaseEvent.id)).all()
    alert = _alert(session, ws, view, insight)
    for platform, channel in channel_targets(ws, case.team):
        key = alert_key(platform, case.id)  # type: ignore[arg-type]
        enqueue(session, key=f"{key}:v{case.version}", platform=platform, action="update", target=channel,
                message=alert, anchor_key=key, case_id=case.id)
        for ev in events:
            enqueue(session, key=f"{key}:event:{ev.id}", platform=platform, action="post", target=channel,
                    message=_note(session, view, ev), thread_key=key, case_id=case.id)
    _homes_for_case(session, case, [e.detail.get("previous_owner_id") for e in events if e.detail])
    if event.kind in ("taken", "assigned", "reassigned", "auto_assigned"):
        _new_owner_dm(session, ws, case, view, insight)
    else:
        _edit_owner_dm(session, ws, case, view, insight)


def _edit_owner_dm(session: Session, ws: Workspace, case: Case, view: cm.CaseView,
                   insight: Classification | None) -> None:
    owner = session.get(Member, case.owner_id) if case.dm_key and case.owner_id else None
    if owner is None:
        return
    dm = cm.owner_message(view, mask=ws.mask_email, insight=insight)
    for platform, user in member_targets(owner):
        anchor = f"{platform}:{case.dm_key}"
        enqueue(session, key=f"{anchor}:edit:v{case.version}", platform=platform, action="update",
                target=user, message=dm, anchor_key=anchor, case_id=case.id)


def refresh_alert(session: Session, ws: Workspace, case: Case) -> cm.CaseView:
    """Edit the alert and the owner's DM after something they show changed without a case event."""
    case.version += 1
    session.add(case)
    session.flush()
    view, insight = _read(session, ws, case)
    alert = _alert(session, ws, view, insight)
    for platform, channel in channel_targets(ws, case.team):
        key = alert_key(platform, case.id)  # type: ignore[arg-type]
        enqueue(session, key=f"{key}:v{case.version}", platform=platform, action="update", target=channel,
                message=alert, anchor_key=key, case_id=case.id)
    _edit_owner_dm(session, ws, case, view, insight)
    return view


def publish_comment_added(session: Session, ws: Workspace, case: Case) -> None:
    """The customer added or changed their comment: edit the alert and say so in the thread."""
    view = refresh_alert(session, ws, case)
    for platform, channel in channel_targets(ws, case.team):
        key = alert_key(platform, case.id)  # type: ignore[arg-type]
        for i, part in enumerate(cm.full_comment_messages(view)):
            enqueue(session, key=f"{key}:comment-v{case.version}:{i}", platform=platform, action="post",
                    target=channel, message=part, thread_key=key, case_id=case.id)


def refresh_homes(session: Session, members: list[Member | None]) -> None:
    """Ask for these people's App Home to be re-published (built from the database when sent), for
    those who opened it lately (bot/console/home.py `in_use`): anyone else's is built when they open it."""
    from bot.console.home import in_use

    seen: set[int] = set()
    now = utcnow()
    for m in members:
        if m is None or m.id is None or m.id in seen or not in_use(m, now):
            continue
        seen.add(m.id)
        for platform, user in member_targets(m):
            if platform != "slack":
                continue  # Teams has no App Home
            enqueue(session, key=f"{platform}:home:{m.id}:{uuid.uuid4().hex}", platform=platform, action="home",
                    target=user, message={})


def _homes_for_case(session: Session, case: Case, extra: list[int | None] = ()) -> None:  # type: ignore[assignment]
    from bot.people.roster import team_managers

    ids = [case.owner_id, *extra]
    people = [session.get(Member, i) for i in ids if i]
    refresh_homes(session, people + list(team_managers(session, case.team)))
