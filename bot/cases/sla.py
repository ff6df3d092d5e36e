"""Due times: wall-clock or counted in business hours in the workspace time zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import BusinessHours, Sla


def add_business_time(start: datetime, amount: timedelta, zone: ZoneInfo, hours: BusinessHours) -> datetime:
    """`start` plus `amount` of working time (e.g. Mon-Fri 09:00-17:00 local)."""
    if amount <= timedelta(0):
        return start
    local = start.astimezone(zone)
    remaining = amount
    day = local.date()
    cursor = local
    for _ in range(3700):  # ten years of days is far beyond any SLA
        if day.weekday() in hours.days:
            open_at = datetime.combine(day, hours.start, tzinfo=zone)
            close_at = datetime.combine(day, hours.end, tzinfo=zone)
            begin = max(cursor, open_at)
            if begin < close_at:
                available = close_at - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(start.tzinfo)
                remaining -= available
        day = day + timedelta(days=1)
        cursor = datetime.combine(day, hours.start, tzinfo=zone)
    raise ValueError("business hours never open; check the configured days")


def due_times(opened_at: datetime, sla: Sla, zone: ZoneInfo,
              hours: BusinessHours | None = None) -> tuple[datetime, datetime]:
    """(respond by, resolve by) for a case opened at `opened_at`."""
    if sla.business_hours:
        hours = hours or BusinessHours()
        return (add_business_time(opened_at, sla.respond_within, zone, hours),
                add_business_time(opened_at, sla.resolve_within, zone, hours))
    return opened_at + sla.respond_within, opened_at + sla.resolve_within


def next_working_instant(at: datetime, zone: ZoneInfo, hours: BusinessHours) -> datetime:
    """`at` if it falls in working hours in `zone`, else the start of the next working period."""
    local = at.astimezone(zone)
    for offset in range(0, 15):
        day = local.date() + timedelta(days=offset)
        if day.weekday() not in hours.days:
            continue
        open_at = datetime.combine(day, hours.start, tzinfo=zone)
        close_at = datetime.combine(day, hours.end, tzinfo=zone)
        if offset == 0 and open_at <= local < close_at:
            return at
        if local < open_at:
            return open_at.astimezone(at.tzinfo)
    return at  # no working days configured: never hold a message back
