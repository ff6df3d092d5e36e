"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

from storage import clock


class UTCDateTime(TypeDecorator[datetime]):
    """Stores instants as naive UTC and hands them back timezone-aware.

    SQLite keeps no offset, so every instant is normalised to UTC on the way in; comparisons
    in SQL then order correctly on both databases.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("naive datetime given; cxloop stores only timezone-aware instants")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=timezone.utc)


def utcnow() -> datetime:
    """Now, from the process's one clock (storage/clock.py)."""
    return clock.now()
