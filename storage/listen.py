"""Wake-ups from PostgreSQL: workers LISTEN for new inbox and outbox rows instead of waiting to poll.

Migration 0009 has every statement that inserts into `inbox` or `outbox` send a notification when
its transaction commits, whichever process or machine it ran in. A `Listener` keeps one connection
of its own LISTENing and calls the callbacks registered for a channel when one arrives. Polling
stays as the fallback: a notification lost while the connection was down is made up for by calling
every callback when it (re)connects, and workers still look every few seconds. SQLite has no
notifications; there the workers poll (`supported` is False).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy import Engine

log = logging.getLogger(__name__)

INBOX_CHANNEL = "cxloop_inbox"
OUTBOX_CHANNEL = "cxloop_outbox"
RECONNECT_AFTER = 2.0


def supported(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def conninfo(engine: Engine) -> str:
    """The engine's database as a libpq connection string (psycopg's own, not SQLAlchemy's URL)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    """LISTENs on PostgreSQL channels and calls each channel's callbacks (which must not block)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.callbacks: dict[str, list[Callable[[], None]]] = {}
        self.connected = asyncio.Event()

    def on(self, channel: str, callback: Callable[[], None]) -> None:
        self.callbacks.setdefault(channel, []).append(callback)

    def _fire(self, channel: str | None = None) -> None:
        for name, callbacks in self.callbacks.items():
            if channel is None or name == channel:
                for cb in callbacks:
                    try:
                        cb()
                    except Exception:  # one bad callback never silences the others
                        log.exception("notification callback for %s failed", name)

    async def run(self) -> None:
        """Listen until cancelled, reconnecting after any failure."""
        import psycopg

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo(self.engine), autocommit=True) as conn:
                    for channel in self.callbacks:
                        await conn.execute(f'LISTEN "{channel}"')
                    self.connected.set()
                    # Anything that arrived while not listening is picked up by a pass now.
                    self._fire()
                    async for note in conn.notifies():
                        self._fire(note.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("not listening for new work (%r); polling until reconnected", exc)
            self.connected.clear()
            await asyncio.sleep(RECONNECT_AFTER)
