"""What every Slack listener needs: who is acting, where, and a way to answer them alone."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session

from bot.machinery.runtime import Runtime
from bot.people.roster import Actor, actor_by_slack
from handlers.slack import render

log = logging.getLogger(__name__)


def tracked(rt: Runtime) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    """Count a listener's work until it finishes, even after its ack has gone back to Slack."""
    def wrap(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(fn)
        async def wrapper(**kwargs: Any) -> Any:
            async with rt.track():
                return await fn(**kwargs)
        return wrapper
    return wrap


def actor_of(session: Session, user_id: str) -> Actor:
    """The Slack user as a cxloop member with their roles (someone new is added as an agent in no team)."""
    return actor_by_slack(session, user_id)


def channel_of(body: dict[str, Any]) -> str | None:
    return (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")


def action_value(body: dict[str, Any]) -> dict[str, Any]:
    """The typed value of the clicked element: a button's value, or a picker's block context."""
    action = body["actions"][0]
    try:
        if action.get("type") == "button":
            value = json.loads(action.get("value") or "{}")
        else:
            block_id = action.get("block_id", "")
            value = json.loads(block_id[4:]) if block_id.startswith("ctx:") else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


async def tell(client: AsyncWebClient, user: str, channel: str | None, text: str | None = None, *,
               message: dict[str, Any] | None = None) -> None:
    """An answer only `user` sees: ephemeral where they clicked, or a DM when there is no channel.
    `text` is plain words (escaped here); `message` a rendered message (render.message)."""
    args = message if message is not None else {"text": render.safe(text or "")}
    try:
        if channel:
            await client.chat_postEphemeral(channel=channel, user=user, **args)
        else:
            await client.chat_postMessage(channel=user, **args)
    except Exception:  # the answer failing must not hide what happened
        log.exception("could not tell %s: %s", user, text)
