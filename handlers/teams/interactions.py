"""Teams' side of chat interactions: pickers and confirmations become dialogs; the rest is the core's.

What a button or form does is written once, for both platforms, in each feature's `actions.py`
(bot/chat/interactions.py). Teams has no picker or confirmation inside a card, so a button that
picks opens a small dialog first (a people picker, or a list of options) and a button that asks
"are you sure?" opens one with Yes; submitting it runs the same core action. All functions here
run inside one database transaction (`Runtime.transaction`).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from bot.chat import interactions
from bot.chat.interactions import Click, Outcome, Place, Submission
from bot.chat.messages import Choice, ChoiceInput, Form, Section, UserInput, plain
from bot.errors import BadInput
from bot.machinery.runtime import Runtime
from bot.people.roster import Actor
from handlers.teams.people import member_by_teams

PICK_FORM = "teams_pick"
CONFIRM_FORM = "teams_confirm"


def pick_form(action_id: str, value: dict[str, Any], pick: dict[str, Any]) -> Form:
    """The dialog behind a picker: Teams' people picker, or a list of options."""
    label = str(pick.get("label") or "Choose")
    if pick.get("kind") == "choice":
        options = [Choice(value=str(v), label=str(lbl)) for v, lbl in pick.get("options") or []]
        field: Any = ChoiceInput(id="picked", label=label, options=options)
    else:
        field = UserInput(id="picked", label=label.rstrip("…. ") or "Person")
    return Form(callback=PICK_FORM, title=label.rstrip("… ")[:40] or "Choose", submit="OK", inputs=[field],
                metadata={"action": action_id, "value": value, "pick": pick})


def confirm_form(action_id: str, value: dict[str, Any], text: str) -> Form:
    return Form(callback=CONFIRM_FORM, title="Are you sure?", submit="Yes", intro=[Section(spans=[plain(text)])],
                inputs=[], metadata={"action": action_id, "value": value})


def click(s: Session, rt: Runtime, actor: Actor, action_id: str, value: dict[str, Any], *,
          conversation: str | None, pick: Any = None, confirm: Any = None) -> Outcome:
    """A card button: a picker or confirmation dialog first, else the core's action."""
    if isinstance(pick, dict):
        return pick_form(action_id, value, pick)
    if confirm:
        return confirm_form(action_id, value, str(confirm))
    return interactions.run_action(s, Click(rt=rt, actor=actor, value=value, place=Place("teams", conversation)),
                                   action_id)


def rebuild(s: Session, rt: Runtime, callback: str, meta: dict[str, Any]) -> Form:
    """The dialog `callback` as it was shown (to read its values and show errors in place)."""
    if callback == PICK_FORM:
        return pick_form(str(meta.get("action")), dict(meta.get("value") or {}), dict(meta.get("pick") or {}))
    if callback == CONFIRM_FORM:
        return confirm_form(str(meta.get("action")), dict(meta.get("value") or {}), "")
    return interactions.rebuild_form(s, rt, callback, meta)


def submit(s: Session, rt: Runtime, actor: Actor, callback: str, meta: dict[str, Any], values: dict[str, Any], *,
           conversation: str | None) -> Outcome:
    """A dialog submitted: a pick or a confirmation runs its action; any other form is the core's."""
    place = Place("teams", conversation)
    if callback in (PICK_FORM, CONFIRM_FORM):
        action_id, value = str(meta.get("action")), dict(meta.get("value") or {})
        picked = choice = None
        if callback == PICK_FORM:
            raw = values.get("picked")
            if not raw:
                choosing = (meta.get("pick") or {}).get("kind") == "choice"
                raise BadInput("Choose one first." if choosing else "Choose someone first.", field="picked")
            if (meta.get("pick") or {}).get("kind") == "choice":
                choice = str(raw)
            else:
                picked = member_by_teams(s, rt.workspace, str(raw))
        return interactions.run_action(s, Click(rt=rt, actor=actor, value=value, picked=picked, choice=choice,
                                                place=place), action_id)
    return interactions.run_form(s, Submission(rt=rt, actor=actor, meta=meta, values=values, place=place), callback)
