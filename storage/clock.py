"""The one clock every part of cxloop reads.

Due times, leases, claims, SLA and delivery all compare instants with "now". If any of them read
the wall clock while the rest read an injected one, a test (or a `run-due --at` replay) would see
half the system in another week. So there is exactly one source of "now" per process: the system
clock by default, replaced as a whole by `install` (the tests, the demo, `CXLOOP_NOW`).

It lives in `storage/`, the lowest layer, because the table defaults read it too.

One other clock is read, and only through `database_seconds`: the database's own, for physical
waits that workers on several machines must agree on and that a platform's clock judges (a
channel's one post a second, a 429's Retry-After, how long an unanswered send may still land).
Those are not domain time: moving the process clock (a test, `CXLOOP_NOW`) must not make Slack's
rate limit pass sooner, and two machines' clocks may disagree by more than a pacing gap.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


_clock: Clock = system_clock


def now() -> datetime:
    """The current instant, timezone-aware UTC, from the installed clock."""
    return _clock()


def install(clock: Clock) -> Clock:
    """Make `clock` the process's clock; returns the one it replaces."""
    global _clock
    previous, _clock = _clock, clock
    return previous


def current() -> Clock:
    return _clock


class RunningFrom:
    """A clock that starts at a given instant and runs forward at the wall clock's pace."""

    def __init__(self, start: datetime):
        self.start = start.astimezone(timezone.utc)
        self._t0 = time.monotonic()

    def __call__(self) -> datetime:
        from datetime import timedelta

        return self.start + timedelta(seconds=time.monotonic() - self._t0)


ENV = "CXLOOP_NOW"


def install_from_env(environ: dict[str, str] | None = None) -> datetime | None:
    """With `CXLOOP_NOW=<ISO-8601 instant>`, run this process's clock from that instant (tests,
    rehearsals of a past or future day). Returns the start instant, or None when unset."""
    value = (environ if environ is not None else os.environ).get(ENV, "").strip()
    if not value:
        return None
    try:
        start = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        raise ValueError(f"{ENV}={value!r} is not an ISO-8601 instant (2026-11-20T10:00:00Z)") from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    install(RunningFrom(start))
    return start


def database_seconds(dialect: str) -> Any:
    """A SQL expression: now on the database server's clock, in seconds since the epoch (a float).

    Stable within one statement on both databases, so a compare-and-set in one UPDATE sees one
    instant. For physical waits shared by workers (see the module docstring), never domain time.
    """
    from sqlalchemy import Float, cast, func, literal_column

    if dialect == "postgresql":
        return cast(func.extract("epoch", func.statement_timestamp()), Float)
    # SQLite: julianday('now') has millisecond resolution and one value per statement step.
    return (func.julianday(literal_column("'now'")) - 2440587.5) * 86400.0
