"""Group commit for the inbox: requests acknowledged together are stored in one transaction.

A request is acknowledged only once its row is committed ("acknowledged" means stored). With 50
requests in flight, a commit each would queue them behind one another on the database's write
lock; instead, rows that arrive while a commit is under way wait for the next one, which takes them
all. One request alone is committed at once; a burst costs a few commits, not one per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from bot.machinery import inbox

log = logging.getLogger(__name__)

Row = dict[str, str | None]
Runner = Callable[..., Awaitable[Any]]


LOCK_POLL = 0.001  # seconds between tries for SQLite's write lock
LOCK_PATIENCE = 30.0  # seconds, as the engine's own busy timeout


async def put_now(engine: Engine, rows: list[Row]) -> list[int]:
    """`inbox.put_many` on SQLite, on the event loop's own thread, taking the write lock as soon as
    it is free and never waiting for it with the loop blocked.

    On the loop: committing a batch is a few statements that neither wait on the disk (WAL with
    synchronous=NORMAL writes to the page cache) nor on the lock (below). In a thread instead, each
    statement gave the GIL back and waited up to Python's switch interval (5 ms) for it while the
    loop read other requests: a batch of one row took 16-27 ms (bench/README.md, "fifth pass").
    The lock: SQLite's own busy handler, once a lock is contended, sleeps up to 100 ms between tries
    and blocks the thread that waits. Here each try fails at once, and the next one comes 1 ms
    later, the loop serving other requests meanwhile. (SQLite's write lock is one for the whole
    file: an ack waits for any write transaction under way.)
    """
    deadline = time.monotonic() + LOCK_PATIENCE
    with engine.connect() as conn:
        # On the driver's connection: through SQLAlchemy, the PRAGMA would open a transaction first.
        raw = conn.connection.driver_connection
        # No waiting inside SQLite, and no WAL checkpoint (page copies and an fsync) run by this
        # commit: other writers' commits, with no one waiting on them, do the checkpoints.
        raw.execute("PRAGMA busy_timeout = 0")  # type: ignore[union-attr]
        raw.execute("PRAGMA wal_autocheckpoint = 0")  # type: ignore[union-attr]
        try:
            while True:
                try:
                    return inbox.put_many(conn, rows)
                except OperationalError as exc:
                    if "locked" not in str(exc.orig) or time.monotonic() > deadline:
                        raise
                # Every millisecond, not backing off: a busy worker's write transactions follow one
                # another with gaps of a millisecond or two, and a try every 8 ms (the back-off before)
                # kept missing them (a first-round p99 of 208 ms against 104 ms now; bench/README.md,
                # "sixth pass"). A failed try costs tens of microseconds.
                await asyncio.sleep(LOCK_POLL)
        finally:
            raw.execute(f"PRAGMA busy_timeout = {int(LOCK_PATIENCE * 1000)}")  # type: ignore[union-attr]
            raw.execute("PRAGMA wal_autocheckpoint = 1000")  # type: ignore[union-attr]
    raise AssertionError("unreachable")


class InboxWriter:
    """`await put(row)` returns the stored item's id once its transaction has committed."""

    def __init__(self, engine: Engine, run: Runner, *, max_batch: int = 200):
        self.engine = engine
        # How PostgreSQL's commits leave the event loop (Runtime.for_ack): they wait on the network.
        # SQLite's are made on the loop (`put_now`).
        self.run = run
        self.max_batch = max_batch
        self._waiting: list[tuple[Row, asyncio.Future[int]]] = []
        self._committer: asyncio.Task[None] | None = None

    async def put(self, row: Row) -> int:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, future))
        if self._committer is None:
            self._committer = asyncio.create_task(self._commit_all())
        return await future

    async def _commit_all(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:self.max_batch], self._waiting[self.max_batch:]
                try:
                    rows = [row for row, _ in batch]
                    ids = (await put_now(self.engine, rows) if self.engine.dialect.name == "sqlite"
                           else await self.run(inbox.put_many, self.engine, rows))
                except BaseException as exc:  # noqa: BLE001 - every waiter hears of it, none is left hanging
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, future), item_id in zip(batch, ids):
                    if not future.done():
                        future.set_result(item_id)
        finally:
            self._committer = None
            for _, future in self._waiting:  # only when stopped mid-way (shutdown): no waiter hangs
                if not future.done():
                    future.set_exception(RuntimeError("the inbox writer stopped before storing this request"))
            self._waiting = []


class HandleSoon:
    """One-process mode: once a request is stored, handle what is waiting, one drain at a time.

    A request stored while a drain runs is picked up by another pass of the same drain, so none is
    left waiting for the worker's next poll.
    """

    def __init__(self, worker: inbox.InboxWorker, track: Callable[[], Any]):
        self.worker = worker
        self.track = track  # Runtime.track: shutdown and tests wait for work acknowledged but unfinished
        self._draining: asyncio.Task[None] | None = None
        self._more = False

    def __call__(self) -> None:
        self._more = True
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        try:
            async with self.track():
                while self._more:
                    self._more = False
                    try:
                        await self.worker.drain()
                    except Exception:
                        # Stored, so not lost: the worker's poll (handlers/server.py) takes them again.
                        log.exception("handling stored requests failed; they stay in the inbox")
        finally:
            self._draining = None


def by_platform(handlers: dict[str, inbox.Handler]) -> inbox.Handler:
    """One inbox handler for the items of every platform this process handles."""

    async def handle(item: Any) -> str | None:
        fn = handlers.get(item.platform)
        if fn is None:
            # Raised, not noted: the item is retried (a process configured for that platform may take it).
            raise RuntimeError(f"this process does not handle {item.platform} requests")
        return await fn(item)

    return handle
