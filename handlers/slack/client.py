"""The Slack Web API client cxloop uses everywhere: `SLACK_API_URL` (or Slack's), retrying what Slack asks."""

from __future__ import annotations

from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

DEFAULT_API_URL = "https://slack.com/api/"


def web_client(token: str | None, api_url: str | None = None, *, retries: bool = True) -> AsyncWebClient:
    """An AsyncWebClient for `SLACK_API_URL` (or Slack's), retrying what Slack asks to be retried."""
    base = (api_url or DEFAULT_API_URL).rstrip("/") + "/"
    handlers = [AsyncConnectionErrorRetryHandler(max_retry_count=2)] if retries else []
    if retries:
        handlers += [AsyncRateLimitErrorRetryHandler(max_retry_count=1), AsyncServerErrorRetryHandler(max_retry_count=1)]
    return AsyncWebClient(token=token, base_url=base, timeout=10, retry_handlers=handlers)
