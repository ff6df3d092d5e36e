"""People's time zones from their Slack profiles (users.info), cached on the member row."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine, or_, select, update

from bot.config import Settings
from handlers.slack.client import web_client
from storage.db import session_scope
from storage.models import Case, Member, TeamMembership

log = logging.getLogger(__name__)


async def refresh_time_zones(engine: Engine, settings: Settings, now: datetime, *, stale_after: timedelta,
                             limit: int = 200) -> int:
    """Look up the time zone of owners and managers not checked within `stale_after`."""
    with session_scope(engine) as s:
        wanted = select(Member.id, Member.slack_user_id).where(
            Member.slack_user_id.is_not(None),
            or_(Member.tz_checked_at.is_(None), Member.tz_checked_at < now - stale_after),
            or_(Member.id.in_(select(Case.owner_id).where(Case.status.in_(["open", "in_progress"]))),
                Member.id.in_(select(TeamMembership.member_id).where(TeamMembership.is_manager == True))),  # noqa: E712
        ).limit(limit)
        rows = list(s.execute(wanted))
    if not rows:
        return 0
    client = web_client(settings.slack_bot_token, settings.slack_api_url, retries=False)
    done = 0
    for member_id, user_id in rows:
        try:
            resp = await client.users_info(user=user_id)
            tz = (resp.get("user") or {}).get("tz")
        except SlackApiError as exc:
            log.info("users.info %s: %s", user_id, exc.response.get("error"))
            tz = None
        values: dict = {"tz_checked_at": now}
        if tz:
            values["tz"] = tz
        with session_scope(engine) as s:
            s.execute(update(Member).where(Member.id == member_id).values(**values))
        done += 1
    return done
