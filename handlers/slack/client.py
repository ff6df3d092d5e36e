"""The Slack Web API client cxloop uses everywhere: `SLACK_API_URL` (or Slack's), retrying what Slack asks.

Connections are kept alive. slack_sdk opens a new HTTP session (and TCP connection) for every call
unless it is given one; a call over a kept-alive connection costs less than half the CPU. So every
call made on one event loop shares that loop's session (`loop_session`). The session is closed
when the loop shuts down (`asyncio.run`, `asyncio.Runner`), or sooner by `close_loop_session`,
which the server and the worker call when they stop. A connection Slack has closed in the meantime
is noticed before it is reused; one closed just as a call goes out makes that call fail as a
dropped connection, which the outbox treats as unanswered: it looks before it sends again.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

DEFAULT_API_URL = "https://slack.com/api/"
TIMEOUT = 10  # seconds for a whole call, unless a client says otherwise
# An idle connection is closed by us after this long, well before a server would drop it.
KEEP_ALIVE = 15.0

_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[aiohttp.ClientSession, Any]] = (
    weakref.WeakKeyDictionary())


async def _closed_at_shutdown(session: aiohttp.ClientSession) -> AsyncIterator[None]:
    # An async generator left suspended here: the loop's shutdown (shutdown_asyncgens) finalizes it.
    try:
        yield
    finally:
        await session.close()


def loop_session() -> aiohttp.ClientSession | None:
    """The running event loop's shared HTTP session for Slack (None outside a running loop)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    held = _sessions.get(loop)
    if held is not None and not held[0].closed:
        return held[0]
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT),
                                    connector=aiohttp.TCPConnector(keepalive_timeout=KEEP_ALIVE))
    closer = _closed_at_shutdown(session)
    # Start the generator now, on this loop, so the loop knows it: it runs to its `yield` at once.
    step = closer.asend(None)
    try:
        step.send(None)
    except StopIteration:
        pass
    _sessions[loop] = (session, closer)  # held: a generator that was collected would close the session
    return session


async def close_loop_session() -> None:
    """Close the running loop's shared session, if it has one (the next call opens a new one)."""
    held = _sessions.pop(asyncio.get_running_loop(), None)
    if held is not None:
        await held[1].aclose()


class SlackClient(AsyncWebClient):
    """An AsyncWebClient on the running loop's shared session (unless given one), with its own
    `timeout` for each call. Bolt's per-request clients are built with this client's session."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._given: aiohttp.ClientSession | None = None
        super().__init__(*args, **kwargs)

    @property  # type: ignore[override]
    def session(self) -> aiohttp.ClientSession | None:
        return self._given or loop_session()

    @session.setter
    def session(self, value: aiohttp.ClientSession | None) -> None:
        self._given = value

    async def _request(self, *, http_verb: str, api_url: str, req_args: dict) -> dict[str, Any]:  # type: ignore[type-arg]
        # On a shared session, the session's timeout would apply; this client's is kept per call.
        req_args = {**req_args, "timeout": aiohttp.ClientTimeout(total=self.timeout)}
        return await super()._request(http_verb=http_verb, api_url=api_url, req_args=req_args)


def web_client(token: str | None, api_url: str | None = None, *, retries: bool = True) -> SlackClient:
    """A Web API client for `SLACK_API_URL` (or Slack's), retrying what Slack asks to be retried."""
    base = (api_url or DEFAULT_API_URL).rstrip("/") + "/"
    handlers = [AsyncConnectionErrorRetryHandler(max_retry_count=2)] if retries else []
    if retries:
        handlers += [AsyncRateLimitErrorRetryHandler(max_retry_count=1), AsyncServerErrorRetryHandler(max_retry_count=1)]
    return SlackClient(token=token, base_url=base, timeout=TIMEOUT, retry_handlers=handlers)


def response_url_client(url: str) -> AsyncWebhookClient:
    """A client for a slash command's `response_url`, on the loop's shared session."""
    return AsyncWebhookClient(url=url, timeout=TIMEOUT, session=loop_session())
