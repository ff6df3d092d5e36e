"""What every stand-in shares: one aiohttp application on 127.0.0.1, on a port the OS picks.

A stand-in runs on the caller's event loop (`async with`) or, for synchronous callers, on its own
loop in a background thread (`with Cls.in_thread(...)`). `close` cuts injected delays short
(`self.closing`), so stopping never waits them out.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self

from aiohttp import web


class LocalServer:
    label = "stand-in"  # named in errors and in the background thread's name
    max_body = 8 * 1024 * 1024  # bytes a request may carry

    def __init__(self) -> None:
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self.closing: asyncio.Event | None = None

    def add_routes(self, router: web.UrlDispatcher) -> None:
        raise NotImplementedError

    @property
    def url(self) -> str:
        """The server's root URL, e.g. ``http://127.0.0.1:54321``."""
        if self._port is None:
            raise RuntimeError(f"the {self.label} is not running")
        return f"http://127.0.0.1:{self._port}"

    @web.middleware
    async def _note_peer(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.transport is not None:
            self.peers.add(request.transport.get_extra_info("peername"))
        return await handler(request)

    def hang_up(self) -> int:
        """Close every connection a client holds open here, as a server whose keep-alive timeout
        ran out does (on the stand-in's loop); returns how many there were."""
        server = self._runner.server if self._runner is not None else None
        handlers = server.connections if server is not None else []
        for h in handlers:
            h.force_close()
        return len(handlers)

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port and start answering."""
        # The client connections requests came over (address, port): how many a client opened.
        self.peers: set[Any] = set()
        app = web.Application(client_max_size=self.max_body, middlewares=[self._note_peer])
        self.add_routes(app.router)
        self.closing = asyncio.Event()
        # A short shutdown timeout: tests start and stop many instances.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]

    async def close(self) -> None:
        """Stop answering and release the port."""
        if self.closing is not None:
            self.closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @classmethod
    @contextmanager
    def in_thread(cls, **options: Any) -> Iterator[Self]:
        """Run a stand-in on its own event loop in a background thread, for synchronous callers."""
        stand_in = cls(**options)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name=cls.label.replace(" ", "-"), daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(stand_in.start(), loop).result(timeout=10)
            yield stand_in
        finally:
            try:
                asyncio.run_coroutine_threadsafe(stand_in.close(), loop).result(timeout=10)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout=10)
                loop.close()
