"""Chat interactions, written once for every platform: what each button, picker and form does.

An adapter (handlers/slack/interactions.py, handlers/teams/bot.py) verifies the request, parses it
into a neutral `Click` or `Submission` (the acting person, the button's typed value, whoever or
whatever was picked, where it happened), runs `run_action` or `run_form` in one transaction, and
renders the `Outcome`:

- a `Form` to open (a Slack modal, a Teams dialog);
- a `Message` or a line of text shown only to the person who clicked;
- `Done`: the change is made and shows itself (the alert is edited); its text is for platforms
  where a click must be answered (a Teams dialog), not repeated where the change is seen (Slack);
- None: nothing more to say.

A refusal is a `CxError` (bot/errors.py); a `BadInput` naming a field is shown next to that field.
Each feature registers its actions with `@action` and its forms with `@form` in its own
`actions.py`; bot/wiring.py names those modules. Nothing here knows a chat platform.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Union

from sqlmodel import Session

from bot.chat.messages import Form, Message
from bot.errors import BadInput
from bot.machinery.runtime import Runtime
from bot.people.roster import Actor
from storage.models import Member


@dataclass(frozen=True)
class Place:
    """Where a click happened: a platform and its conversation (channel, chat) id, when there is one."""

    platform: str
    conversation: str | None = None


@dataclass(frozen=True)
class Click:
    """A button or picker used by `actor`: the button's typed value and what was picked with it.

    `picked` is a person chosen in a people picker, already a member (the adapter resolves the
    platform's user id); `choice` is an option chosen in a list.
    """

    rt: Runtime
    actor: Actor
    value: dict[str, Any] = field(default_factory=dict)
    picked: Member | None = None
    choice: str | None = None
    place: Place | None = None


@dataclass(frozen=True)
class Submission:
    """A form submitted by `actor`: the metadata the form carried and the values typed in it."""

    rt: Runtime
    actor: Actor
    meta: dict[str, Any]
    values: dict[str, Any]
    place: Place | None = None


@dataclass(frozen=True)
class Done:
    """The change is made and shows itself; `text` says what happened, where a click needs an answer."""

    text: str


Outcome = Union[Form, Message, Done, str, None]
ActionFn = Callable[[Session, Click], Outcome]
FormRebuild = Callable[[Session, Runtime, dict[str, Any]], Form]
FormApply = Callable[[Session, Submission], Outcome]


_ACTIONS: dict[str, ActionFn] = {}
_FORMS: dict[str, tuple[FormRebuild, FormApply]] = {}


def _key(name: Any) -> str:
    return str(getattr(name, "value", name))


def action(name: Any) -> Callable[[ActionFn], ActionFn]:
    """Register what the button or picker `name` does (only records it)."""
    def wrap(fn: ActionFn) -> ActionFn:
        _ACTIONS[_key(name)] = fn
        return fn
    return wrap


def form(callback: Any, rebuild: FormRebuild) -> Callable[[FormApply], FormApply]:
    """Register what submitting the form `callback` does; `rebuild` makes the form again from its
    metadata, so an adapter can read its values and show errors in place."""
    def wrap(fn: FormApply) -> FormApply:
        _FORMS[_key(callback)] = (rebuild, fn)
        return fn
    return wrap


def _loaded() -> None:
    from bot import wiring

    wiring.load()


def actions() -> frozenset[str]:
    """Every registered action id (adapters route these to `run_action`)."""
    _loaded()
    return frozenset(_ACTIONS)


def forms() -> frozenset[str]:
    """Every registered form callback (adapters route these to `run_form`)."""
    _loaded()
    return frozenset(_FORMS)


def run_action(session: Session, click: Click, action_id: str) -> Outcome:
    """Do what the button `action_id` does, as `click.actor`."""
    _loaded()
    fn = _ACTIONS.get(_key(action_id))
    if fn is None:
        raise BadInput("That button no longer does anything; use `/cx help` to see what you can do.")
    return fn(session, click)


def rebuild_form(session: Session, rt: Runtime, callback: str, meta: dict[str, Any]) -> Form:
    """The form `callback` as it was shown, from its metadata."""
    _loaded()
    entry = _FORMS.get(callback)
    if entry is None:
        raise BadInput("That form is no longer in use; start again from the message.")
    return entry[0](session, rt, meta)


def run_form(session: Session, sub: Submission, callback: str) -> Outcome:
    """Apply the submitted form `callback`, as `sub.actor`."""
    _loaded()
    entry = _FORMS.get(callback)
    if entry is None:
        raise BadInput("That form is no longer in use; start again from the message.")
    return entry[1](session, sub)


def case_id(value: dict[str, Any]) -> int:
    """The case a button or form is about, from its typed value."""
    from bot.cases.service import MAX_CASE_ID

    raw = value.get("case")
    try:
        cid = int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BadInput("That button has lost track of its case; use `/cx case ID` instead.") from None
    if not 0 < cid <= MAX_CASE_ID:
        raise BadInput("That button has lost track of its case; use `/cx case ID` instead.")
    return cid
