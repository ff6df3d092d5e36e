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
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, exists, func, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import aliased
from sqlmodel import Session

from bot.machinery.leases import Runner, Worker, free, lease, worker_id
from storage.db import is_postgres, session_scope, writing
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
    with writing(engine) as conn:
        return conn.execute(insert(InboxItem.__table__).values(row).returning(InboxItem.__table__.c.id)).scalar_one()  # type: ignore[attr-defined]


def put_many(bind: Engine | Connection, rows: list[dict[str, str | None]]) -> list[int]:
    """Store several acknowledged requests in one transaction (each row: platform, kind, body,
    content_type, lane); returns their ids in order. (bot/machinery/inbox_writer.py batches `put`s into this.)"""
    if not rows:
        return []
    now = utcnow()
    if bind.dialect.name == "sqlite":
        if isinstance(bind, Engine):
            with bind.connect() as conn:
                return _put_sqlite(conn, rows, now)
        return _put_sqlite(bind, rows, now)
    values = [{"lane": None, **r, "status": "pending", "attempts": 0, "received_at": now} for r in rows]
    if isinstance(bind, Engine):
        with writing(bind) as conn:
            return list(conn.execute(_PUT, values).scalars())
    conn = bind.execution_options(cx_write=True)
    with conn.begin():
        return list(conn.execute(_PUT, values).scalars())


_TABLE = InboxItem.__table__  # type: ignore[attr-defined]
# Built once: every acknowledgement waits for it, and building it (its cache key) cost more than
# running it for a batch of one (0.25 of 0.57 ms).
_PUT = insert(_TABLE).returning(_TABLE.c.id, sort_by_parameter_order=True)

# SQLite: the same insert as one prepared statement that the driver runs for every row, in C.
# Through SQLAlchemy (a multi-row VALUES with RETURNING, each row's values processed in Python), a
# batch of 12 clicks took 1.03 ms of CPU; this way 0.38 ms (bench/README.md, "sixth pass"). Values
# go through the columns' own bind processors, so a row reads back exactly as one stored the other
# way (tests/test_inbox.py checks it).
_PUT_COLUMNS = ("platform", "lane", "kind", "body", "content_type", "status", "attempts", "received_at")
_PUT_SQLITE = (f"INSERT INTO {_TABLE.name} ({', '.join(_TABLE.c[c].name for c in _PUT_COLUMNS)}) "
               f"VALUES ({', '.join('?' for _ in _PUT_COLUMNS)})")


@lru_cache(maxsize=None)
def _received_at(dialect: Any) -> Callable[[Any], Any] | None:
    """`received_at`'s bind processor for `dialect` (UTCDateTime, then SQLite's DATETIME text format),
    as SQLAlchemy applies it, worked out once. (The other columns are strings and numbers, which
    SQLite's driver takes as they are.)"""
    return _TABLE.c.received_at.type.dialect_impl(dialect).bind_processor(dialect)


def _put_sqlite(conn: Connection, rows: list[dict[str, str | None]], now: datetime) -> list[int]:
    # The same values as put_many's other path writes (status pending, no attempt yet, received now):
    # the batch's one instant processed once, each row a tuple.
    at = _received_at(conn.dialect)
    received = at(now) if at is not None else now
    params = [(r["platform"], r.get("lane"), r["kind"], r["body"], r["content_type"], "pending", 0, received)
              for r in rows]
    raw: Any = conn.connection.driver_connection  # isolation_level None: the transaction is ours to open
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        raw.execute("BEGIN IMMEDIATE")
        try:
            raw.executemany(_PUT_SQLITE, params)
            # While this transaction holds the write lock, SQLite numbers new rows one past the largest
            # id (no AUTOINCREMENT, no id given): the batch's ids are the last one and those before it.
            last = raw.execute("SELECT last_insert_rowid()").fetchone()[0]
            raw.execute("COMMIT")
        except BaseException:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
            raise
    except dbapi_error as exc:
        # The error SQLAlchemy would have raised (OperationalError for "database is locked"…), as callers expect.
        raise DBAPIError.instance(_PUT_SQLITE, None, exc, dbapi_error) from exc
    return list(range(last - len(rows) + 1, last + 1))


# Built once: an idle worker asks this ten times a second.
_WAITING = (select(_TABLE.c.id)
            .where(_TABLE.c.status == "pending", free(_TABLE.c, bindparam("now")))
            .limit(1))


def waiting(engine: Engine, now: datetime) -> bool:
    """Whether any item is there to be taken at `now`: a plain read, which takes no write lock and
    waits for no writer, so a worker polling an empty inbox costs the database (and the
    acknowledgements waiting for its write lock) next to nothing."""
    with engine.connect() as conn:
        return conn.execute(_WAITING, {"now": now}).first() is not None


def claim(engine: Engine, me: str, *, now: datetime | None = None, limit: int = 20) -> list[InboxItem]:
    """Lease up to `limit` waiting items to `me`, oldest first. A lane's items (one person's
    requests) are taken together, and only from its oldest one not done, so a person's second click
    waits for their first whichever worker has it: the worker handles them one after another."""
    now = now or utcnow()
    if not waiting(engine, now):
        return []
    earlier = aliased(InboxItem)
    postgres = is_postgres(engine)
    with session_scope(engine) as s:
        q = (select(InboxItem)
             .where(InboxItem.status == "pending", free(InboxItem, now),
                    # No earlier item of the lane is leased to someone or backing off. Earlier ones
                    # that are free come first in this very order, so they are taken too.
                    ~exists().where(earlier.lane == InboxItem.lane, earlier.status == "pending",
                                    earlier.id < InboxItem.id, ~free(earlier, now)))  # type: ignore[operator]
             .order_by(InboxItem.id).limit(limit))  # type: ignore[arg-type]
        keep = (lambda rows: _behind_no_one(s, rows)) if postgres else None
        return lease(s, q, me=me, now=now, lasts=LEASE, postgres=postgres, keep=keep)


def _behind_no_one(s: Session, rows: list[InboxItem]) -> list[InboxItem]:
    """PostgreSQL: a worker claiming at the same moment holds the rows it is taking locked (SKIP
    LOCKED passed them by) but not yet leased; an item of ours behind one of those in its lane is
    left for later. (On SQLite claims take turns: nothing is half-taken.)"""
    lanes = {r.lane for r in rows if r.lane is not None}
    if not lanes:
        return rows
    ids = [r.id for r in rows]
    first_elsewhere = dict(s.execute(  # type: ignore[arg-type]
        select(InboxItem.lane, func.min(InboxItem.id))
        .where(InboxItem.lane.in_(lanes), InboxItem.status == "pending", InboxItem.id.not_in(ids))  # type: ignore[union-attr,attr-defined]
        .group_by(InboxItem.lane)).all())
    return [r for r in rows if r.lane not in first_elsewhere or r.id < first_elsewhere[r.lane]]  # type: ignore[operator]


def finish(engine: Engine, item: InboxItem, me: str, *, error: str | None = None, retry: bool = False) -> None:
    """Mark an item handled (`error` notes what went wrong in handling it), or, with `retry`, put it
    back to be taken again after a back-off, until it has been tried MAX_ATTEMPTS times."""
    finish_many(engine, [(item, error, retry)], me)


_DONE = (update(_TABLE).where(_TABLE.c.id == bindparam("item_id"), _TABLE.c.locked_by == bindparam("me"))
         .values(status=bindparam("new_status"), locked_by=None, locked_until=None, done_at=bindparam("at"),
                 last_error=bindparam("error")))
_AGAIN = (update(_TABLE).where(_TABLE.c.id == bindparam("item_id"), _TABLE.c.locked_by == bindparam("me"))
          .values(locked_by=None, locked_until=bindparam("at"), last_error=bindparam("error")))
# Taken but not tried: back as it was, its attempt not counted.
_BACK = (update(_TABLE).where(_TABLE.c.id == bindparam("item_id"), _TABLE.c.locked_by == bindparam("me"))
         .values(locked_by=None, locked_until=None, attempts=_TABLE.c.attempts - 1))


def finish_many(engine: Engine, outcomes: list[tuple[InboxItem, str | None, bool]], me: str,
                untried: Sequence[InboxItem] = ()) -> None:
    """`finish` for a whole pass in one transaction: (item, error, retry) each; `untried` items go
    back as they were. An item whose lease `me` no longer holds (it ran out, and another worker
    took the item) is left to that worker."""
    now = utcnow()
    done: list[dict[str, object]] = []
    again: list[dict[str, object]] = []
    back = [{"item_id": item.id, "me": me} for item in untried]
    for item, error, retry in outcomes:
        if retry and item.attempts < MAX_ATTEMPTS:
            again.append({"item_id": item.id, "me": me, "error": error,
                          "at": now + timedelta(seconds=2 ** item.attempts)})
        else:
            done.append({"item_id": item.id, "me": me, "error": error, "at": now,
                         "new_status": "failed" if retry else "done"})
    with writing(engine) as conn:
        for stmt, rows in ((_DONE, done), (_AGAIN, again), (_BACK, back)):
            if rows:
                conn.execute(stmt, rows)


def pending(engine: Engine) -> int:
    """Items not handled yet (for health checks, benchmarks and tests)."""
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

    def __init__(self, engine: Engine, handle: Handler, *, me: str | None = None, concurrency: int = 4,
                 run: Runner | None = None):
        super().__init__(engine, run=run)
        self.handle = handle
        self.me = me or worker_id()
        self.concurrency = concurrency

    async def _one(self, item: InboxItem) -> tuple[InboxItem, str | None, bool]:
        """Handle one item; returns what `finish_many` writes for it: (item, note, retry)."""
        try:
            return item, await self.handle(item), False
        except Exception as exc:
            log.exception("inbox item %s (%s) could not be handled; it will be retried", item.id, item.kind)
            return item, repr(exc), True

    async def drain(self) -> int:
        """Handle everything waiting now; returns how many items were tried. A lane's items are
        handled one after another, in order; when one is to be retried, the lane's later items go
        back untried, to wait for it. Each batch is marked done in one transaction once all of it
        is handled: an item handled just before a crash is handled again after its lease runs
        out, as it would be with a transaction per item."""
        done = 0
        while True:
            items = await self.run(claim, self.engine, self.me, limit=self.concurrency * 4)
            if not items:
                return done
            gate = asyncio.Semaphore(self.concurrency)
            lanes: dict[object, list[InboxItem]] = {}
            for item in items:  # oldest first, as claimed
                lanes.setdefault(item.lane if item.lane is not None else ("item", item.id), []).append(item)
            ran = await asyncio.gather(*(self._lane(lane, gate) for lane in lanes.values()))
            outcomes = [o for tried, _ in ran for o in tried]
            await self.run(finish_many, self.engine, outcomes, self.me, [i for _, left in ran for i in left])
            done += len(outcomes)

    async def _lane(self, lane: list[InboxItem], gate: asyncio.Semaphore
                    ) -> tuple[list[tuple[InboxItem, str | None, bool]], list[InboxItem]]:
        """One lane's items, in order: (the outcomes of those tried, those left untried because an
        earlier one is to be retried)."""
        tried = []
        async with gate:
            for n, item in enumerate(lane):
                outcome = await self._one(item)
                tried.append(outcome)
                _, _, retry = outcome
                if retry:
                    return tried, lane[n + 1:]
        return tried, []
