"""What each follow-up button and form does, for Slack and Teams alike (bot/chat/interactions.py)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from bot.chat.interactions import Click, Done, Outcome, Submission, action, form
from bot.chat.messages import Form
from bot.errors import BadInput
from bot.followup import messages as fm
from bot.followup import outgoing
from bot.followup import service as followups
from bot.followup.notify import publish_step, publish_taken
from bot.followup.rules import Status, Step
from bot.machinery.runtime import Runtime


def _step_of(value: dict[str, Any]) -> Step:
    try:
        return Step(value.get("step"))
    except ValueError:
        raise BadInput("That button names no follow-up step.") from None


@action(fm.TAKE)
def take(s: Session, c: Click) -> Outcome:
    fid = followups.follow_up_id(c.value)
    row = followups.take(s, c.actor, fid, now=c.rt.now())
    publish_taken(s, c.rt.workspace, row)
    return Done(f"You took follow-up #{fid}. Its three steps are in your chat with cxloop.")


@action(fm.STEP)
def step(s: Session, c: Click) -> Outcome:
    fid, chosen = followups.follow_up_id(c.value), _step_of(c.value)
    followups.check_step(s, c.actor, followups.get(s, fid), chosen)
    return fm.step_form(followups.load_view(s, c.rt.workspace, fid), chosen)


def _rebuild(s: Session, rt: Runtime, meta: dict[str, Any]) -> Form:
    return fm.step_form(followups.load_view(s, rt.workspace, followups.follow_up_id(meta)), _step_of(meta))


@form(fm.STEP_FORM, _rebuild)
def step_done(s: Session, sub: Submission) -> Outcome:
    ws = sub.rt.workspace
    row = followups.tick(s, sub.actor, followups.follow_up_id(sub.meta), _step_of(sub.meta),
                         note=sub.values.get("note"), now=sub.rt.now())
    view = publish_step(s, ws, row)
    if view.status is Status.DONE:
        outgoing.follow_up_done(s, ws, view)
    return None
