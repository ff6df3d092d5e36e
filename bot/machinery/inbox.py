"""The inbox: chat requests acknowledged at once and handled afterwards, never lost.

A click or a command is answered (acknowledged) as soon as its signature checks out; what it asks
for is stored here and handled by a worker, in this process or in a worker process of its own
(`cxloop serve --workers N`, `cxloop work`). Items are leased in the database, so two workers never
take the same one (`SKIP LOCKED` on PostgreSQL), and an item whose worker died is taken again once
its lease runs out. What a handler does is the adapter's business; the core only keeps the queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, exists, insert, select, update
from sqlalchemy.orm import aliased

from bot.machinery.leases import Worker, free, lease, worker_id
from storage.db import is_postgres, session_scope
from storage.models import InboxItem
from storage.types import utcnow

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 5

Handler = Callable[[InboxItem], Awaitable[str | None]]


def put(engine: Engine, *, platform: str, kind: str, body: str, content_type: str, lane: str | None = None) -> int:
    """Store an acknowledged request; returns its id. Items of one `lane` (one person's requests)
    are handled one at a time, in the order they came in; items without a lane in any order."""
    # A Core insert: this runs in the server process for every click, beside the acknowledgements.
    row = {"platform": platform, "kind": kind, "body": body, "content_type": content_type, "lane": lane,
           "status": "pending", "attempts": 0, "received_at": utcnow()}
    with engine.execution_options(cx_write=True).begin() as conn:
        return conn.execute(insert(InboxItem.__table__).values(row).returning(InboxItem.__table__.c.id)).scalar_one()  # type: ignore[attr-defined]


def put_many(bind: Engine | Connection, rows: list[dict[str, str | None]]) -> list[int]:
    """Store several acknowledged requests in one transaction (each row: platform, kind, body,
    content_type, lane); returns their ids in order. (bot/machinery/inbox_writer.py batches `put`s into this.)"""
    if not rows:
        return []
    now = utcnow()
    table = InboxItem.__table__  # type: ignore[attr-defined]
    values = [{"lane": None, **r, "status": "pending", "attempts": 0, "received_at": now} for r in rows]
    stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    if isinstance(bind, Engine):
        with bind.execution_options(cx_write=True).begin() as conn:
            return list(conn.execute(stmt, values).scalars())
    conn = bind.execution_options(cx_write=True)
    with conn.begin():
        return list(conn.execute(stmt, values).scalars())


def claim(engine: Engine, me: str, *, now: datetime | None = None, limit: int = 20) -> list[InboxItem]:
    """Lease up to `limit` waiting items to `me`, oldest first: of each lane only its oldest item
    not done yet, so a person's second click waits for their first, whichever worker has it."""
    now = now or utcnow()
    earlier = aliased(InboxItem)
    with session_scope(engine) as s:
        q = (select(InboxItem)
             .where(InboxItem.status == "pending", free(InboxItem, now),
                    ~exists().where(earlier.lane == InboxItem.lane, earlier.status == "pending",
                                    earlier.id < InboxItem.id))  # type: ignore[operator]
             .order_by(InboxItem.id).limit(limit))  # type: ignore[arg-type]
        return lease(s, q, me=me, now=now, lasts=LEASE, postgres=is_postgres(engine))


def finish(engine: Engine, item: InboxItem, me: str, *, error: str | None = None, retry: bool = False) -> None:
    """Mark an item handled (`error` notes what went wrong in handling it), or, with `retry`, put it
    back to be taken again after a back-off, until it has been tried MAX_ATTEMPTS times."""
    now = utcnow()
    if retry and item.attempts < MAX_ATTEMPTS:
        values = {"locked_by": None, "locked_until": now + timedelta(seconds=2 ** item.attempts), "last_error": error}
    else:
        values = {"status": "failed" if retry else "done", "locked_by": None, "locked_until": None,
                  "done_at": now, "last_error": error}
    with session_scope(engine) as s:
        s.execute(update(InboxItem).where(InboxItem.id == item.id, InboxItem.locked_by == me).values(**values))  # type: ignore[arg-type]


def pending(engine: Engine) -> int:
    """Items not handled yet (for health checks, benchmarks and tests)."""
    from sqlalchemy import func
    from sqlmodel import Session

    with Session(engine) as s:
        return s.execute(select(func.count()).select_from(InboxItem).where(InboxItem.status == "pending")).scalar_one()


class InboxWorker(Worker):
    """Takes items from the inbox and hands each to `handle`, a few at a time.

    `handle` returns None when the item was handled, or a note on what went wrong while handling it
    (the item is still done: the person was told, and doing it again could do it twice). An
    exception from `handle` means it could not be handled at all (the database was unreachable, say):
    the item goes back to be retried.
    """

    # Polled often for items other processes store. (In one process, the storing side hands them over
    # at once: bot/machinery/inbox_writer.py.)
    poll = 0.1

    def __init__(self, engine: Engine, handle: Handler, *, me: str | None = None, concurrency: int = 4):
        super().__init__()
        self.engine = engine
        self.handle = handle
        self.me = me or worker_id()
        self.concurrency = concurrency

    async def _one(self, item: InboxItem) -> None:
        try:
            note = await self.handle(item)
        except Exception as exc:
            log.exception("inbox item %s (%s) could not be handled; it will be retried", item.id, item.kind)
            await asyncio.to_thread(finish, self.engine, item, self.me, error=repr(exc), retry=True)
            return
        await asyncio.to_thread(finish, self.engine, item, self.me, error=note)

    async def drain(self) -> int:
        """Handle everything waiting now; returns how many items were handled."""
        done = 0
        while True:
            items = await asyncio.to_thread(claim, self.engine, self.me, limit=self.concurrency * 4)
            if not items:
                return done
            gate = asyncio.Semaphore(self.concurrency)

            async def run(item: InboxItem) -> None:
                async with gate:
                    await self._one(item)

            await asyncio.gather(*(run(i) for i in items))
            done += len(items)
