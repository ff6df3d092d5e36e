"""The Bolt app: builds it, wires the listeners, turns domain errors into messages people read."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler, AsyncRateLimitErrorRetryHandler, AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.machinery.runtime import Runtime

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://slack.com/api/"


def web_client(token: str | None, api_url: str | None = None, *, retries: bool = True) -> AsyncWebClient:
    """An AsyncWebClient for `SLACK_API_URL` (or Slack's), retrying what Slack asks to be retried."""
    base = (api_url or DEFAULT_API_URL).rstrip("/") + "/"
    handlers = [AsyncConnectionErrorRetryHandler(max_retry_count=2)] if retries else []
    if retries:
        handlers += [AsyncRateLimitErrorRetryHandler(max_retry_count=1), AsyncServerErrorRetryHandler(max_retry_count=1)]
    return AsyncWebClient(token=token, base_url=base, timeout=10, retry_handlers=handlers)


def build_app(rt: Runtime, *, token: str, signing_secret: str, api_url: str | None = None,
              bot_user_id: str = "U0CXLOOP", team_id: str = "T0CXLOOP", worker: bool = False,
              first: Callable[[AsyncApp], None] | None = None) -> AsyncApp:
    """A Bolt app for one workspace. The token is never checked with auth.test at start.

    `worker`: the app that handles stored requests (handlers.slack.inbox); it runs each listener to
    its end before returning, so the inbox knows when an item is done. `first` adds middleware
    that runs before the listeners' own (the front app's acknowledge-and-store).
    """
    # No token on the app's own client: `authorize` supplies it to every listener's client, and Bolt
    # would otherwise warn that the token is ignored.
    client = web_client(None, api_url)

    async def authorize(**_: object) -> AuthorizeResult:
        # One workspace, one bot token: no auth.test round trip on every request.
        return AuthorizeResult(enterprise_id=None, team_id=team_id, bot_token=token, bot_user_id=bot_user_id,
                               bot_id="B0CXLOOP")

    app = AsyncApp(client=client, signing_secret=signing_secret, authorize=authorize,
                   request_verification_enabled=True, process_before_response=worker,
                   ignoring_self_events_enabled=True, url_verification_enabled=True)

    if first is not None:
        first(app)
    from handlers.slack import listeners

    listeners.register(app, rt)
    for name in EXTRA_LISTENERS:
        try:
            module = __import__(name, fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(app, rt)
    return app


# Feature modules with their own Slack listeners, each exposing register(app, rt).
EXTRA_LISTENERS = ("handlers.slack.listeners_recognition", "handlers.slack.listeners_digest",
                   "handlers.slack.listeners_console", "handlers.slack.listeners_assist")

