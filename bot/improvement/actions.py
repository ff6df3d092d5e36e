"""What each outer-loop button and form does, for Slack and Teams alike (bot/chat/interactions.py).

A button that opens a form checks first that the person may do what the form is for; the form's
submission checks again (a form can arrive long after it was opened).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlmodel import Session, select

from bot.chat.interactions import Click, Done, Outcome, Submission, action, form
from bot.chat.messages import Form
from bot.config import parse_duration
from bot.errors import BadInput, InvalidState, NotFound
from bot.improvement import forms, notify
from bot.improvement import service as imps
from bot.improvement.enums import Dimension, ImproveAction, ImproveForm, Stage
from bot.improvement.huddle import Pattern, set_aside
from bot.improvement.huddle_messages import set_aside_note
from bot.machinery.queueing import enqueue
from bot.machinery.runtime import Runtime
from bot.people.roster import member_by_slack
from storage.models import ImprovementEvent, Member


def _id(value: dict[str, Any], key: str = "improvement") -> int:
    try:
        found = int(value.get(key))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        found = 0
    if not 0 < found <= imps.MAX_ID:
        raise BadInput("That button has lost track of its improvement; use `/cx improve` instead.")
    return found


def _publish(s: Session, rt: Runtime, ev: ImprovementEvent) -> None:
    notify.publish_change(s, rt.workspace, imps.get(s, ev.improvement_id), ev, rt.now())


def picked_member(s: Session, platform: str | None, raw: Any) -> Member | None:
    """The person chosen in a form's people picker: a Slack user id, or a Teams (Entra object) id."""
    if raw in (None, ""):
        return None
    ident = str(raw)
    if platform == "teams":
        found = s.exec(select(Member).where(Member.teams_user_id == ident)).first()
        if found is None:
            raise NotFound("cxloop does not know that person yet: pick a member of the team.")
        return found
    return member_by_slack(s, ident)


def _epoch(value: Any, *, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromtimestamp(int(value), tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        raise BadInput("That is not a date; pick one with the date picker.", field=field) from None


# --- huddle patterns -------------------------------------------------------------------------


@action(ImproveAction.START)
def start(s: Session, c: Click) -> Outcome:
    ws, team = c.rt.workspace, str(c.value.get("team") or "")
    imps.require_team(c.actor, ws, team, "start an improvement for it")
    return forms.start_form(ws, team, dimension=c.value.get("dim"), value=c.value.get("val"), post=c.value.get("post"))


@action(ImproveAction.NOT_NOW)
def not_now(s: Session, c: Click) -> Outcome:
    ws, v = c.rt.workspace, c.value
    try:
        responses = int(v.get("n") or 0)
    except (TypeError, ValueError):
        responses = 0
    row = set_aside(s, ws, c.actor, team=str(v.get("team") or ""), dimension=str(v.get("dim") or ""),
                    value=str(v.get("val") or ""), responses=responses, now=c.rt.now())
    label = Pattern(dimension=Dimension(row.dimension), value=row.value, responses=0, cases=0, before=0,
                    before_cases=0).label
    post = v.get("post")
    if isinstance(post, str) and post:
        note = set_aside_note(c.actor.ref, label, row.responses)
        stamp = int(c.rt.now().timestamp())
        for platform, channel in notify.team_channels(ws, row.team):
            root = f"{platform}:{post}"
            enqueue(s, key=f"{root}:aside:{row.id}:{stamp}", platform=platform, action="post", target=channel,
                    message=note, thread_key=root)
    return Done(f"Set “{label}” aside for now: it comes back if it grows.")


# --- an improvement's buttons ----------------------------------------------------------------


@action(ImproveAction.MOVE)
def move(s: Session, c: Click) -> Outcome:
    imp = imps.get(s, _id(c.value))
    imps.require_steward(s, c.actor, imp, f"move improvement #{imp.id} to another stage")
    stage = Stage(imp.stage)
    if stage is Stage.CANCELLED:
        raise InvalidState(f"Improvement #{imp.id} is cancelled.")
    return forms.move_form(imp.id, stage)  # type: ignore[arg-type]


@action(ImproveAction.TO_CONTROL)
def to_control(s: Session, c: Click) -> Outcome:
    ev = imps.move(s, c.rt.workspace, c.actor, _id(c.value), Stage.CONTROL, note="The target was met.", now=c.rt.now())
    _publish(s, c.rt, ev)
    return Done(f"Improvement #{ev.improvement_id} is in Control: cxloop revisits its figures and warns if they slip.")


@action(ImproveAction.REOPEN)
def reopen(s: Session, c: Click) -> Outcome:
    ev = imps.move(s, c.rt.workspace, c.actor, _id(c.value), Stage.PLAN, note="Reopened after a regression alert.",
                   now=c.rt.now())
    _publish(s, c.rt, ev)
    return Done(f"Improvement #{ev.improvement_id} is back in Plan.")


@action(ImproveAction.ADD_ACTION)
def add_action(s: Session, c: Click) -> Outcome:
    imp = imps.get(s, _id(c.value))
    imps.require_open(imp, "add actions")
    imps.require_steward(s, c.actor, imp, f"add actions to improvement #{imp.id}")
    if Stage(imp.stage) is Stage.CONTROL:
        raise InvalidState(f"Improvement #{imp.id} is in Control: the fix is done. Move it back to Plan to change it.")
    return forms.action_form(imp.id)  # type: ignore[arg-type]


@action(ImproveAction.TICK)
def tick(s: Session, c: Click) -> Outcome:
    ev = imps.tick_action(s, c.actor, _id(c.value, "action"), now=c.rt.now())
    _publish(s, c.rt, ev)
    return Done(f"Ticked “{(ev.detail or {}).get('title', '')}”.")


@action(ImproveAction.SNOOZE)
def snooze(s: Session, c: Click) -> Outcome:
    act = imps.get_action(s, _id(c.value, "action"))
    imp = imps.get(s, act.improvement_id)
    imps.require_open(imp, "snooze its actions")
    if act.done_at is not None:
        raise InvalidState(f"“{act.title}” is already done.")
    imps.require_action_worker(s, c.actor, imp, act, "snooze its reminders")
    return forms.snooze_form(act.id)  # type: ignore[arg-type]


@action(ImproveAction.EXTEND)
def extend(s: Session, c: Click) -> Outcome:
    imp = imps.get(s, _id(c.value))
    imps.require_open(imp, "change its target")
    imps.require_steward(s, c.actor, imp, f"change the target of improvement #{imp.id}")
    return forms.extend_form(imp.id, target=imp.target_value)  # type: ignore[arg-type]


# --- forms -----------------------------------------------------------------------------------


def _rebuild_start(s: Session, rt: Runtime, meta: dict[str, Any]) -> Form:
    team = str(meta.get("team") or "")
    if team not in {t.key for t in rt.workspace.teams}:
        raise BadInput("That form's team no longer exists; start again from `/cx improve new`.")
    dim, _, val = str(meta.get("pattern") or "").partition(":")
    return forms.start_form(rt.workspace, team, dimension=dim or None, value=val or None, post=meta.get("post"))


@form(ImproveForm.START, _rebuild_start)
def started(s: Session, sub: Submission) -> Outcome:
    v, ws, now = sub.values, sub.rt.workspace, sub.rt.now()
    platform = sub.place.platform if sub.place else None
    people = [m for m in (picked_member(s, platform, v.get("owner")), picked_member(s, platform, v.get("co_owner"))) if m]
    ev = imps.start(s, ws, sub.actor, team=str(sub.meta.get("team") or ""), title=v.get("title"),
                    problem=v.get("problem"), owners_=people, metric=v.get("metric"), target=v.get("target"),
                    target_date=v.get("target_date"), touchpoint=v.get("touchpoint"), theme=v.get("theme"),
                    root_cause=v.get("root_cause"), pattern=sub.meta.get("pattern"), now=now)
    imp = imps.get(s, ev.improvement_id)
    notify.publish_started(s, ws, imp, ev, now, huddle_post=sub.meta.get("post"))
    return Done(f"Started improvement #{imp.id}: its post is in the team channel.")


@form(ImproveForm.MOVE, lambda s, rt, meta: forms.move_form(_id(meta), Stage(imps.get(s, _id(meta)).stage)))
def moved(s: Session, sub: Submission) -> Outcome:
    ev = imps.move(s, sub.rt.workspace, sub.actor, _id(sub.meta), sub.values.get("to"), note=sub.values.get("note"),
                   now=sub.rt.now())
    _publish(s, sub.rt, ev)
    return None


@form(ImproveForm.ADD_ACTION, lambda s, rt, meta: forms.action_form(_id(meta)))
def action_added(s: Session, sub: Submission) -> Outcome:
    v = sub.values
    owner = picked_member(s, sub.place.platform if sub.place else None, v.get("owner"))
    ev = imps.add_action(s, sub.rt.workspace, sub.actor, _id(sub.meta), title=v.get("title"), owner=owner,
                         due_at=_epoch(v.get("due"), field="due"), now=sub.rt.now())
    _publish(s, sub.rt, ev)
    return None


@form(ImproveForm.SNOOZE, lambda s, rt, meta: forms.snooze_form(_id(meta, "action")))
def snoozed(s: Session, sub: Submission) -> Outcome:
    try:
        until = sub.rt.now() + parse_duration(sub.values.get("for") or "")
    except ValueError:
        raise BadInput("Choose how long to snooze for.", field="for") from None
    ev = imps.snooze_action(s, sub.rt.workspace, sub.actor, _id(sub.meta, "action"), until=until,
                            reason=sub.values.get("reason"), now=sub.rt.now())
    _publish(s, sub.rt, ev)
    return None


@form(ImproveForm.EXTEND, lambda s, rt, meta: forms.extend_form(_id(meta), target=imps.get(s, _id(meta)).target_value))
def extended(s: Session, sub: Submission) -> Outcome:
    v = sub.values
    ev = imps.extend_target(s, sub.rt.workspace, sub.actor, _id(sub.meta), target_date=v.get("target_date"),
                            target=v.get("target"), note=v.get("note"), now=sub.rt.now())
    _publish(s, sub.rt, ev)
    return None
