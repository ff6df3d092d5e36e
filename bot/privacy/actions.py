"""The confirmation dialog of `/cx privacy erase` (bot/privacy/commands.py): admins only; typing ERASE
queues the request, which the next due run carries out (bot/privacy/requests.py)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from bot.chat.interactions import Click, Outcome, Submission, action, form
from bot.chat.messages import Context, Form, Section, TextInput, bold, plain
from bot.errors import BadInput, NotAllowed
from bot.machinery.runtime import Runtime
from bot.people.roster import Actor
from bot.privacy import keys
from bot.privacy.commands import ERASE_ACTION, held, shown
from bot.privacy.holdings import Subject
from bot.privacy.requests import queue

ERASE_FORM = "privacy_erase_confirm"
WORD = "ERASE"


def _admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise NotAllowed("Only an admin can erase a customer's data.")


def _subject(meta: dict[str, Any]) -> Subject:
    try:
        return Subject.of(email=meta.get("email"), customer_id=meta.get("customer_id"))
    except BadInput:
        raise BadInput("That button has lost track of whose data; use `/cx privacy erase` again.") from None


def confirm_form(session: Session, subject: Subject) -> Form:
    responses, cases = held(session, subject)
    meta = {k: v for k, v in (("email", subject.email), ("customer_id", subject.customer_id)) if v}
    return Form(callback=ERASE_FORM, title="Erase customer data", submit="Erase", metadata=meta, intro=[
        Section(spans=[bold(f"Erase the data of {shown(subject)}?\n"),
                       plain(f"{responses} survey response(s) and {cases} case(s), with every copy: notes, stories, "
                             "shout-outs, the assistant's answers, and the chat messages that showed them (edited "
                             "to read “details erased on request”).")]),
        Context(spans=[plain("Scores stay the same. It cannot be undone.")])],
        inputs=[TextInput(id="confirm", label=f"Type {WORD} to confirm", required=True, max_length=20)])


def _rebuild(session: Session, rt: Runtime, meta: dict[str, Any]) -> Form:
    return confirm_form(session, _subject(meta))


@action(ERASE_ACTION)
def open_confirmation(session: Session, c: Click) -> Outcome:
    _admin(c.actor)
    return confirm_form(session, _subject(c.value))


@form(ERASE_FORM, _rebuild)
def confirmed(session: Session, sub: Submission) -> Outcome:
    _admin(sub.actor)
    if str(sub.values.get("confirm") or "").strip().upper() != WORD:
        raise BadInput(f"Type {WORD} to confirm the erasure.", field="confirm")
    try:
        keys.require("Erasing a customer's data")
    except keys.MissingKey as exc:
        raise BadInput(f"cxloop is not set up for erasures yet: {exc}", field="confirm") from None
    subject = _subject(sub.meta)
    req = queue(session, subject, actor_id=sub.actor.id, via=sub.place.platform if sub.place else "chat")
    return f"🔒 Erasure request #{req.id} for {shown(subject)} is queued; I'll message you when it is done."
