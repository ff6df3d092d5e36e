"""Talking to cxloop in its Slack DM (the app's Messages tab): `cx …`, `help` or `mine` typed there
answers as `/cx` does, with the same permissions; anything else gets a pointer to `/cx help`.

The answer is queued in the outbox in the transaction that runs the command, keyed by the event, so
a redelivered event or a retry never answers twice, and an answer once stored is never lost. The
DM is read by its owner alone, so a private answer (customer details) is shown there as it is.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from sqlmodel import Session

from bot.chat.messages import Message, Section, plain
from bot.console import registry
from bot.errors import CxError
from bot.machinery.queueing import enqueue
from bot.machinery.runtime import Runtime
from handlers.slack.common import actor_of, tracked
from handlers.slack.mentions import command_text

MAX_TEXT = 4000  # a command is a line; Slack allows 40,000 characters in a message
BARE = ("help", "mine")  # answered without the `cx` prefix
POINTER = ("I answer commands here, as `/cx` does: type `cx help` (or just `help`) for the list, "
           "or `mine` for your open cases and follow-ups.")


def command_of(text: str) -> str | None:
    """The command in a DM, without its `cx` prefix; None when it is not one."""
    words = text.strip().split(None, 1)
    if not words:
        return None
    head = words[0].lower()
    if head in ("cx", "/cx"):
        return words[1].strip() if len(words) > 1 else "help"
    if head in BARE:
        return text.strip()
    return None


def _text_message(text: str) -> Message:
    return Message(text=text, blocks=[Section(spans=[plain(text)])])


def answer(session: Session, rt: Runtime, user: str, text: str) -> Message:
    """What cxloop answers to a DM."""
    if len(text) > MAX_TEXT:
        return _text_message(f"That message is {len(text):,} characters long; a cxloop command is at most "
                             f"{MAX_TEXT:,}. Try `cx help`.")
    line = command_of(command_text(session, text))
    if line is None:
        return _text_message(POINTER)
    try:
        with session.begin_nested():
            return registry.dispatch(session, rt.workspace, actor_of(session, user), line, now=rt.now()).message
    except CxError as exc:  # a refusal is an answer too; what the command did is rolled back
        return _text_message(str(exc))


def register(app: AsyncApp, rt: Runtime) -> None:
    @app.event({"type": "message", "channel_type": "im"})
    @tracked(rt)
    async def on_dm(event: dict[str, Any], body: dict[str, Any]) -> None:
        # Edits, deletions, joins and the bot's own posts carry a subtype (or a bot_id): not commands.
        if event.get("subtype") or event.get("bot_id") or not event.get("user"):
            return
        channel, user = event["channel"], event["user"]
        key = f"slack:dm-answer:{body.get('event_id') or event.get('client_msg_id') or event.get('ts')}"[:200]

        def run(session: Session) -> None:
            msg = answer(session, rt, user, event.get("text") or "")
            enqueue(session, key=key, platform="slack", action="post", target=channel, message=msg,
                    thread_key=None)

        await rt.after_ack(rt.transaction, run)
