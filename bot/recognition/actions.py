"""Recognition buttons and forms, for Slack and Teams alike: approving customer shout-outs, and
Customer Service Week's pledge and customer stories (bot/chat/interactions.py)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from bot.chat.interactions import Click, Outcome, Submission, action, form
from bot.chat.messages import Form
from bot.errors import BadInput
from bot.machinery.runtime import Runtime
from bot.recognition import csweek
from bot.recognition import messages as rm
from bot.recognition import shoutouts
from bot.recognition.messages import RecognitionAction, RecognitionForm


def _number(value: dict[str, Any], key: str) -> int:
    try:
        return int(value[key])
    except (KeyError, TypeError, ValueError):
        raise BadInput("That button has lost what it was for; it may be from an old message.") from None


def _team(value: dict[str, Any]) -> str:
    team = value.get("team")
    if not isinstance(team, str) or not team:
        raise BadInput("That button has lost its team; it may be from an old message.")
    return team


@action(RecognitionAction.APPROVE)
def approve(s: Session, c: Click) -> Outcome:
    row = shoutouts.decide_shoutout(s, c.rt.workspace, c.actor, _number(c.value, "shoutout"), approve=True,
                                    now=c.rt.now())
    return f"Posted in the {shoutouts.team_title(c.rt.workspace, row.team or '')} channel."


@action(RecognitionAction.SKIP)
def skip(s: Session, c: Click) -> Outcome:
    shoutouts.decide_shoutout(s, c.rt.workspace, c.actor, _number(c.value, "shoutout"), approve=False, now=c.rt.now())
    return "Skipped: that shout-out won't be posted."


@action(RecognitionAction.PLEDGE)
def pledge(s: Session, c: Click) -> Outcome:
    return csweek.take_pledge(s, c.rt.workspace, c.actor, year=_number(c.value, "year"), team=_team(c.value),
                              now=c.rt.now())


@action(RecognitionAction.STORY)
def story(s: Session, c: Click) -> Outcome:
    where = c.place.conversation if c.place else None
    return csweek.story_form(c.rt.workspace, c.actor, year=_number(c.value, "year"), team=_team(c.value),
                             now=c.rt.now(), channel=where)


def _rebuild_story(s: Session, rt: Runtime, meta: dict[str, Any]) -> Form:
    return rm.story_form(_number(meta, "year"), _team(meta), meta.get("channel"))


@form(RecognitionForm.STORY, _rebuild_story)
def shared(s: Session, sub: Submission) -> Outcome:
    csweek.share_story(s, sub.rt.workspace, sub.actor, year=_number(sub.meta, "year"), team=_team(sub.meta),
                       text=sub.values.get("story"), now=sub.rt.now())
    return "📖 Thank you! Your story is in the thread."
