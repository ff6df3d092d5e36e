"""Which chat platforms this process can deliver to, built from the settings."""

from __future__ import annotations

from bot.config import Settings
from bot.outbox import ChatPort


def delivery_ports(settings: Settings) -> list[ChatPort]:
    """One port per configured platform."""
    ports: list[ChatPort] = []
    if settings.slack_bot_token:
        from handlers.slack.app import web_client
        from handlers.slack.port import SlackPort

        # The outbox does its own retrying and pacing; the SDK's retry handlers would double it.
        ports.append(SlackPort(web_client(settings.slack_bot_token, settings.slack_api_url, retries=False)))
    return ports
