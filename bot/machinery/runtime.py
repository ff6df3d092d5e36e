"""What every adapter needs at hand: the database, the workspace and a clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from bot.config import Settings, Workspace
from storage.db import lost_to_a_writer, reading_scope, session_scope
from storage import clock as process_clock

T = TypeVar("T")


class _Cached(NamedTuple):
    """The effective workspace, and what it was built from and when that was last checked."""

    version: Any  # bot/people/teams.py settings_version
    committed_here: int  # bot/people/teams.py changes_committed_here
    checked: float  # time.monotonic()
    workspace: Workspace


# How often a runtime asks the database whether another process changed a team in chat.
WORKSPACE_LOOK = 1.0


class Runtime:
    def __init__(self, engine: Engine, workspace: Workspace, settings: Settings,
                 clock: Callable[[], datetime] | None = None):
        self.engine = engine
        self.base_workspace = workspace
        self.settings = settings
        if clock is not None:
            # One clock per process (storage/clock.py): the outbox, the inbox, the claims and the
            # table defaults must all read the same "now" as the handlers do.
            process_clock.install(clock)
        # The erasure key (bot/privacy/keys.py): intake checks answers against erased customers with it.
        from bot.privacy import keys

        keys.install(settings)
        # Called after work is queued so the outbox worker wakes at once instead of at its next poll.
        self.on_queued: list[Callable[[], None]] = []
        # Work still running after its request was acknowledged; shutdown (and tests) wait for it.
        self.inflight = 0
        self._idle: asyncio.Condition | None = None
        self._ws_cache: _Cached | None = None
        # Work Slack is waiting on (a command's answer, a form's validation) and work done after the
        # ack run on separate, small pools, so a burst of after-ack work never delays the next ack.
        self._ack_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cx-ack")
        self._after_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cx-after-ack")
        # Where short blocking work done after the ack runs (see `work_on_loop`).
        self.on_loop = False

    def work_on_loop(self) -> None:
        """Run after-ack work and the workers' database steps on the event loop's own thread.

        For a worker process (`cxloop work`), whose loop answers no one: there a hop to a thread and
        back costs more CPU than most of the statements it carries (about 0.2 ms, measured in
        bench/README.md, "fifth pass"), and the two threads then contend for the
        GIL. A server process keeps the threads, so that its loop is free to acknowledge. Long work
        (run-due's jobs, the assistant's calls) keeps its thread everywhere."""
        self.on_loop = True

    async def for_ack(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking work someone is waiting on, off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._ack_pool, fn, *args)

    async def after_ack(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking work whose request was already acknowledged, off the event loop (on it in a
        worker process: `work_on_loop`)."""
        if self.on_loop:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self._after_pool, fn, *args)

    async def blocking(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """A worker's short database step (a claim, a delivery's bookkeeping): in a thread, as
        `asyncio.to_thread`, or on the loop in a worker process (`work_on_loop`)."""
        if self.on_loop:
            return fn(*args, **kwargs)
        return await asyncio.to_thread(fn, *args, **kwargs)

    @property
    def workspace(self) -> Workspace:
        """The YAML workspace with the changes made in chat, re-read when those change: at once for a
        change this process committed, within `WORKSPACE_LOOK` seconds for one made by another process."""
        from bot.people.teams import changes_committed_here, effective_workspace, settings_version

        here = changes_committed_here()
        looked = time.monotonic()  # an interval between looks, not a date: not the domain clock
        cached = self._ws_cache
        if cached is not None and cached.committed_here == here and looked - cached.checked < WORKSPACE_LOOK:
            return cached.workspace
        with Session(self.engine) as s:
            version = settings_version(s)
            if cached is not None and cached.version == version:
                ws = cached.workspace
            else:
                ws = effective_workspace(s, self.base_workspace)
        self._ws_cache = _Cached(version, here, looked, ws)
        return ws

    def now(self) -> datetime:
        return process_clock.now()

    def transaction(self, fn: Callable[[Session], T]) -> T:
        """Run `fn` in one transaction, then wake the delivery worker."""
        return self._run(session_scope, fn)

    def reading(self, fn: Callable[[Session], T]) -> T:
        """`transaction` for work that reads (a report, a list of cases): on SQLite it does not take
        the write lock up front, so a long report never holds up the acknowledgements the server
        writes. Should `fn` write after all (someone seen for the first time is added) just after
        another writer committed, SQLite refuses the write; `fn` then runs again, as a writer.
        `fn` must do nothing but database work, as in `transaction`."""
        try:
            return self._run(reading_scope, fn)
        except OperationalError as exc:
            if not lost_to_a_writer(exc):
                raise
            return self.transaction(fn)

    def _run(self, scope: Callable[[Engine], Any], fn: Callable[[Session], T]) -> T:
        with scope(self.engine) as session:
            result = fn(session)
        for cb in self.on_queued:
            cb()
        return result

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
