"""Leasing rows to one worker: the inbox and the outbox take work the same way.

A row is leased by writing who has it (`locked_by`) and until when (`locked_until`), and counting the
attempt, in the transaction that selected it: on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so two
workers never take the same row and neither waits for the other; on SQLite writers take turns. A
worker that dies leaves its rows leased until the lease runs out; then anyone may take them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine, or_
from sqlmodel import Session

T = TypeVar("T")
# How a worker runs its blocking database steps: asyncio.to_thread, or Runtime.blocking.
Runner = Callable[..., Awaitable[Any]]
log = logging.getLogger(__name__)


def worker_id() -> str:
    """This worker's name in leases: host, process and a random part (a restart is someone new)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def free(model: Any, now: datetime) -> Any:
    """SQL: rows of `model` nobody holds a lease on at `now`."""
    return or_(model.locked_until.is_(None), model.locked_until < now)


def lease(session: Session, query: Any, *, me: str, now: datetime, lasts: timedelta, postgres: bool,
          of: Any = None, keep: Callable[[list[T]], list[T]] | None = None) -> list[T]:
    """Lease the rows `query` selects (those `keep` keeps) to `me` until `now + lasts`, counting the
    attempt; the rows come back detached, for the worker to hold after the transaction ends."""
    if postgres:
        query = query.with_for_update(skip_locked=True, **({"of": of} if of is not None else {}))
    rows: list[Any] = list(session.execute(query).scalars())
    if keep is not None:
        rows = keep(rows)
    for row in rows:
        row.locked_by, row.locked_until = me, now + lasts
        row.attempts += 1
    session.flush()
    for row in rows:
        session.expunge(row)
    return rows


class Worker:
    """A loop that makes a pass (`drain`) whenever it is woken (`nudge`, from any thread: a request was
    stored, PostgreSQL notified) and at least every `poll` seconds (retries coming due, other replicas)."""

    what = "worker"
    poll = 1.0  # seconds between passes when nothing wakes the worker
    # On SQLite, an idle poll that sees nothing committed looks anyway at least this often, for work
    # that comes due by time (a back-off ending, a dead worker's lease running out).
    idle_look = 1.0

    def __init__(self, engine: Engine, *, run: Runner | None = None) -> None:
        self.engine = engine
        self.run: Runner = run or asyncio.to_thread
        self.wake = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    def nudge(self) -> None:
        """Make a pass now; safe to call from any thread."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.wake.set)

    async def drain(self) -> int:
        raise NotImplementedError

    async def run_forever(self, *, poll: float | None = None) -> None:
        from storage.db import CommitWatch

        poll = self.poll if poll is None else poll
        self.loop = asyncio.get_running_loop()
        # On SQLite, a poll that finds nothing committed since the last one (and no retry due) skips its
        # queries: an idle worker then costs next to nothing. Wake-ups and explicit drains always look.
        watch = CommitWatch.of(self.engine, every=max(poll, self.idle_look))
        woken = True
        try:
            while True:
                self.wake.clear()  # before the pass: work arriving during it wakes the next one
                if woken or watch is None or watch.changed():
                    try:
                        await self.drain()
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("%s pass failed; retrying", self.what)
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout=poll)
                    woken = True
                except asyncio.TimeoutError:
                    woken = False
        finally:
            if watch is not None:
                watch.close()
