"""Weeks as the digest counts them: Monday to Sunday in the workspace time zone, and when each week's digest is due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from datetime import time as Clock

from bot.config import Workspace



TREND_WEEKS = 8
MAX_LATE = timedelta(days=6)  # a missed digest is caught up within this, never later
# --- weeks -----------------------------------------------------------------------------------


def _local_midnight(day: date, ws: Workspace) -> datetime:
    return datetime.combine(day, Clock(0), tzinfo=ws.zone).astimezone(timezone.utc)


def _monday(at: datetime, ws: Workspace) -> date:
    local = at.astimezone(ws.zone).date()
    return local - timedelta(days=local.weekday())


def week_bounds(monday: date, ws: Workspace) -> tuple[datetime, datetime]:
    """The week from local Monday 00:00 to the next local Monday 00:00, as UTC instants."""
    return _local_midnight(monday, ws), _local_midnight(monday + timedelta(days=7), ws)


def last_full_week(ws: Workspace, now: datetime) -> tuple[datetime, datetime]:
    """The Monday-to-Sunday week before the one `now` falls in (workspace zone)."""
    return week_bounds(_monday(now, ws) - timedelta(days=7), ws)


def digest_instant(ws: Workspace, monday: date) -> datetime:
    """When the digest of the week before `monday` is due: the configured day and time of `monday`'s week."""
    day = monday + timedelta(days=ws.digest.day)
    return datetime.combine(day, ws.digest.time, tzinfo=ws.zone).astimezone(timezone.utc)


@dataclass(frozen=True)
class DueDigest:
    at: datetime          # the digest instant
    week_start: datetime  # the reported week, UTC instants of local midnights
    week_end: datetime


def due_digest(ws: Workspace, now: datetime) -> DueDigest | None:
    """The digest due at `now`: the latest digest instant at or before `now`, unless it is over MAX_LATE old."""
    this_monday = _monday(now, ws)
    for monday in (this_monday, this_monday - timedelta(days=7)):
        at = digest_instant(ws, monday)
        if at <= now:
            if now - at > MAX_LATE:
                return None
            start, end = week_bounds(monday - timedelta(days=7), ws)
            return DueDigest(at=at, week_start=start, week_end=end)
    return None


def week_label(ws: Workspace, week_start: datetime) -> str:
    """'2026-11-16': the local Monday the week starts on (used in keys)."""
    return week_start.astimezone(ws.zone).date().isoformat()
