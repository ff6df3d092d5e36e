"""What every adapter needs at hand: the database, the workspace and a clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Engine
from sqlmodel import Session

from bot.config import Settings, Workspace
from storage.db import session_scope
from storage.types import utcnow

T = TypeVar("T")


@dataclass
class Runtime:
    engine: Engine
    workspace: Workspace
    settings: Settings
    clock: Callable[[], datetime] = utcnow
    # Called after work is queued so the outbox worker wakes at once instead of at its next poll.
    on_queued: list[Callable[[], None]] = field(default_factory=list)
    # Work still running after its request was acknowledged; shutdown (and tests) wait for it.
    inflight: int = 0
    _idle: asyncio.Condition | None = None

    @asynccontextmanager
    async def track(self) -> AsyncIterator[None]:
        """Count a piece of acknowledged-but-unfinished work."""
        if self._idle is None:
            self._idle = asyncio.Condition()
        self.inflight += 1
        try:
            yield
        finally:
            async with self._idle:
                self.inflight -= 1
                self._idle.notify_all()

    async def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until no acknowledged work is still running."""
        if self._idle is None:
            self._idle = asyncio.Condition()

        async def _wait() -> None:
            async with self._idle:  # type: ignore[union-attr]
                await self._idle.wait_for(lambda: self.inflight == 0)  # type: ignore[union-attr]

        await asyncio.wait_for(_wait(), timeout)

    def now(self) -> datetime:
        return self.clock()

    def transaction(self, fn: Callable[[Session], T]) -> T:
        """Run `fn` in one transaction, then wake the delivery worker."""
        with session_scope(self.engine) as session:
            result = fn(session)
        for cb in self.on_queued:
            cb()
        return result
