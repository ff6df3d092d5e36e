"""Buttons on nudges (bot/chat/interactions.py): a manager asks an overdue case's owner for an update."""

from __future__ import annotations

from sqlmodel import Session

from bot.cases.enums import CaseAction
from bot.chat.interactions import Click, Outcome, action, case_id
from bot.nudges.chase import ask_owner_for_update


@action(CaseAction.REMIND_OWNER)
def remind_owner(s: Session, c: Click) -> Outcome:
    cid = case_id(c.value)
    ask_owner_for_update(s, c.rt.workspace, c.actor, cid, now=c.rt.now())
    return f"Asked the owner of case #{cid} for an update."
