"""People's profiles from Slack (users.info): the time zone their nudges wait for, and the names customer
praise may call them by (bot/people/profiles.py says whose; bot/people/names.py keeps the names)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine

from bot.config import Settings
from bot.people.names import record_names
from bot.people.profiles import due_for_a_look, record_profile
from handlers.slack.client import web_client
from storage.db import session_scope

log = logging.getLogger(__name__)


async def refresh_time_zones(engine: Engine, settings: Settings, now: datetime, *, stale_after: timedelta,
                             limit: int = 200) -> int:
    """Look up the time zone and names of the people whose profile was not read within `stale_after`."""
    with session_scope(engine) as s:
        rows = due_for_a_look(s, now, stale_after=stale_after, limit=limit)
    if not rows:
        return 0
    client = web_client(settings.slack_bot_token, settings.slack_api_url, retries=False)
    for member_id, user_id in rows:
        try:
            resp = await client.users_info(user=user_id)
            user = resp.get("user") or {}
        except SlackApiError as exc:
            log.info("users.info %s: %s", user_id, exc.response.get("error"))
            user = {}
        profile = user.get("profile") or {}
        with session_scope(engine) as s:
            record_profile(s, member_id, now, tz=user.get("tz"))
            record_names(s, member_id, "slack", now=now,
                         real_name=profile.get("real_name") or user.get("real_name"),
                         display_name=profile.get("display_name"))
    return len(rows)
