"""The inbox worker's short way for the requests Slack sends most: clicks on registered actions and `/cx`.

A stored request was verified before it was stored (handlers/slack/inbox.py), and its
acknowledgement has gone back already, so Bolt's dispatch has nothing left to do for these two
but find the listener: it builds a context, runs the middleware and matches every listener, about
a fifth of the CPU such a request costs the worker. `route` finds the listener itself and calls the
same function Bolt's listener calls (`interactions.run_click`, `commands.run_cx`), with a client on
the bot token as Bolt's would be. Everything else (events, Slack's own dialogs, DMs) still goes
through the worker's Bolt app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.machinery.runtime import Runtime
from handlers.slack import commands, interactions
from handlers.slack.client import web_client

Route = Callable[[dict[str, Any]], Awaitable[None] | None]


def direct_routes(rt: Runtime, *, token: str, api_url: str | None = None) -> Route:
    """`route(body)`: the work for a stored click or `/cx` (to be awaited), or None for Bolt's dispatch."""
    client = web_client(token, api_url)
    clicks = interactions.clicks()

    def route(body: dict[str, Any]) -> Awaitable[None] | None:
        if body.get("command") == commands.COMMAND:
            return commands.run_cx(rt, body)
        if body.get("type") == "block_actions":
            actions = body.get("actions")
            if isinstance(actions, list) and actions and isinstance(actions[0], dict) \
                    and clicks.match(str(actions[0].get("action_id", ""))):
                return interactions.run_click(rt, body, client)
        return None

    return route
