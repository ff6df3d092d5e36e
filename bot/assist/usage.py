"""The daily token budget: how many tokens the assistant may spend per day, counted where it is stored.

A request starts only while the day's total is under the budget; the one that crosses it finishes
and is counted, and nothing more is asked until the next day (UTC, as OpenAI bills). The count lives
behind `UsageLedger`: `DbUsage` keeps it in the `assist_usage` table, so it survives restarts and is
shared by replicas; `MemoryUsage` is for tests and one-off scripts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Protocol

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from storage.db import writing
from storage.types import utcnow

DEFAULT_DAILY_TOKENS = 200_000


class UsageLedger(Protocol):
    def spent(self, day: date) -> int:
        """Tokens recorded for `day`."""
        ...

    def add(self, day: date, tokens: int) -> None:
        """Record one request's tokens for `day`."""
        ...


class MemoryUsage:
    """A ledger in memory: for tests and scripts (a restart forgets it)."""

    def __init__(self) -> None:
        self.days: dict[date, int] = {}
        self.requests: dict[date, int] = {}
        self._lock = threading.Lock()

    def spent(self, day: date) -> int:
        return self.days.get(day, 0)

    def add(self, day: date, tokens: int) -> None:
        with self._lock:
            self.days[day] = self.days.get(day, 0) + max(0, tokens)
            self.requests[day] = self.requests.get(day, 0) + 1


class DbUsage:
    """The ledger in the `assist_usage` table: one row per day, incremented in place."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def spent(self, day: date) -> int:
        from storage.models import AssistUsage

        t = AssistUsage.__table__  # type: ignore[attr-defined]
        with self.engine.execution_options(cx_write=False).connect() as conn:
            value = conn.execute(select(t.c.tokens).where(t.c.day == day)).scalar()
        return int(value or 0)

    def add(self, day: date, tokens: int) -> None:
        from storage.models import AssistUsage

        t = AssistUsage.__table__  # type: ignore[attr-defined]
        tokens = max(0, int(tokens))
        bump = (update(t).where(t.c.day == day)
                .values(tokens=t.c.tokens + tokens, requests=t.c.requests + 1, updated_at=utcnow()))
        # An UPDATE first (the usual case), an INSERT for the day's first request; a replica that
        # inserted at the same moment turns ours into the UPDATE.
        for _ in range(3):
            with writing(self.engine) as conn:
                if conn.execute(bump).rowcount:
                    return
                try:
                    with conn.begin_nested():
                        conn.execute(t.insert().values(day=day, tokens=tokens, requests=1, updated_at=utcnow()))
                    return
                except IntegrityError:
                    continue


class BudgetExhausted(Exception):
    """The day's token budget is used up."""


class TokenBudget:
    """A daily token limit over a ledger, on an injectable clock."""

    def __init__(self, ledger: UsageLedger, daily_tokens: int = DEFAULT_DAILY_TOKENS,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.ledger = ledger
        self.daily_tokens = daily_tokens
        self.clock = clock

    def today(self) -> date:
        return self.clock().astimezone(timezone.utc).date()

    def remaining(self) -> int:
        return max(0, self.daily_tokens - self.ledger.spent(self.today()))

    def check(self) -> None:
        """Raise BudgetExhausted when no request may start today."""
        if self.daily_tokens <= 0 or self.ledger.spent(self.today()) >= self.daily_tokens:
            raise BudgetExhausted(f"{self.daily_tokens:,} tokens a day")

    def record(self, tokens: int) -> None:
        self.ledger.add(self.today(), tokens)
