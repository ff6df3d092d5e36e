"""Group commit for the inbox: requests acknowledged together are stored in one transaction.

A request is acknowledged only once its row is committed ("acknowledged" means stored). With 50
requests in flight, a commit each would queue them behind one another on the database's write
lock; instead, rows that arrive while a commit is under way wait for the next one, which takes them
all. One request alone is committed at once; a burst costs a few commits, not one per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Engine

from bot import inbox

Row = dict[str, str | None]
Runner = Callable[..., Awaitable[Any]]


class InboxWriter:
    """`await put(row)` returns the stored item's id once its transaction has committed."""

    def __init__(self, engine: Engine, run: Runner, *, max_batch: int = 200):
        self.engine = engine
        self.run = run  # how blocking work leaves the event loop (Runtime.for_ack)
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
                    ids = await self.run(inbox.put_many, self.engine, [row for row, _ in batch])
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
