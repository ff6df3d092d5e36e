"""The console's buttons (bot/chat/interactions.py): "Next page" of a paged `/cx` answer."""

from __future__ import annotations

from sqlmodel import Session

from bot.chat.interactions import Click, Outcome, action
from bot.console import registry
from bot.console.commands import PAGE_ACTION
from bot.errors import BadInput


@action(PAGE_ACTION)
def next_page(s: Session, c: Click) -> Outcome:
    try:
        page = int(c.value.get("page", 1))
    except (TypeError, ValueError):
        raise BadInput("That button has lost its page; type the command again.") from None
    line = f"{c.value.get('cmd', '')} page {page}"
    return registry.dispatch(s, c.rt.workspace, c.actor, line, now=c.rt.now()).message
