"""The owner's "Draft a reply" (bot/chat/interactions.py): who may ask, and the draft dialog.

Clicked in a chat that can update a dialog in place (Slack), the adapter opens it at once and fills
it when the model answers, with Regenerate and Discard (handlers/slack/assist.py). Elsewhere the
action below answers at once with a cached model draft or the offline one (no network inside the
interaction's transaction), and closing the dialog discards it.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from bot.assist import Draft, DraftInput
from bot.assist.messages import AssistAction, AssistForm, draft_form
from bot.assist.service import assistant_for
from bot.cases import service as cases
from bot.chat.interactions import Click, Outcome, Submission, action, case_id, form
from bot.chat.messages import Form
from bot.machinery.runtime import Runtime
from bot.people.roster import Actor


def draft_input(s: Session, rt: Runtime, actor: Actor, cid: int) -> DraftInput:
    """What to draft a reply from, once `actor` is found to be the owner or a manager of the team."""
    cases.require_worker(actor, cases.get_case(s, cid), "draft a reply on {case}")
    return DraftInput.from_view(cases.load_view(s, rt.workspace, cid))


@action(AssistAction.DRAFT)
def draft(s: Session, c: Click) -> Outcome:
    cid = case_id(c.value)
    inp = draft_input(s, c.rt, c.actor, cid)
    reply = assistant_for(c.rt.settings, c.rt.engine, c.rt.workspace).draft_reply(inp, ask_model=False)
    return draft_form(cid, reply, controls=False)


def _rebuild(s: Session, rt: Runtime, meta: dict[str, Any]) -> Form:
    return draft_form(case_id(meta), Draft(text="", method="offline"), controls=False)


@form(AssistForm.DRAFT, _rebuild)
def done(s: Session, sub: Submission) -> Outcome:
    return None  # the owner sends the reply themselves: nothing is stored or sent
