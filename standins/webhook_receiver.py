"""A local receiver of cxloop's outgoing webhook: what Zapier, n8n or a survey tool would run.

It listens on 127.0.0.1 (port 0 by default), records every request, checks each signature with the
shared secret, and keeps the events it accepted once per `Idempotency-Key`, as a careful receiver
would. Tests queue its failures: an answer (500, 429 with Retry-After, 400…), a slow answer (the
sender times out), or an answer that fails after the event was already taken in (the sender must
retry with the same key, and the receiver must not take it twice).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    """One request as it arrived."""

    body: bytes
    headers: dict[str, str]
    signature_ok: bool
    status: int = 0

    @property
    def key(self) -> str | None:
        return self.headers.get("Idempotency-Key")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Fault:
    status: int = 500
    retry_after: str | None = None
    delay: float = 0.0
    after_processing: bool = False  # take the event in, then answer the failure anyway


@dataclass
class WebhookReceiver:
    secret: str
    path: str = "/hooks/cxloop"
    requests: list[Received] = field(default_factory=list)
    accepted: dict[str, Any] = field(default_factory=dict)  # idempotency key -> body, in arrival order
    _faults: list[_Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post(self.path, self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", port)
        await self._site.start()
        self.port = self._site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    # --- faults and inspection ---------------------------------------------------------------

    def fail_next(self, status: int = 500, *, retry_after: str | None = None, times: int = 1,
                  after_processing: bool = False) -> None:
        with self._lock:
            self._faults += [_Fault(status=status, retry_after=retry_after, after_processing=after_processing)
                             for _ in range(times)]

    def stall_next(self, seconds: float) -> None:
        """Answer the next request only after `seconds` (longer than the sender's timeout: it gives up)."""
        with self._lock:
            self._faults.append(_Fault(status=200, delay=seconds, after_processing=True))

    def events(self) -> list[Any]:
        """The events taken in, once each."""
        with self._lock:
            return list(self.accepted.values())

    # --- HTTP ----------------------------------------------------------------------------------

    def _signed(self, body: bytes, header: str | None) -> bool:
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        return header is not None and hmac.compare_digest(expected, header)

    def _take_in(self, got: Received) -> None:
        if got.signature_ok and got.key and got.key not in self.accepted:
            self.accepted[got.key] = got.json()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        got = Received(body=body, headers=dict(request.headers),
                       signature_ok=self._signed(body, request.headers.get("X-Cxloop-Signature")))
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
            self.requests.append(got)
        if not got.signature_ok:
            got.status = 401
            return web.json_response({"error": "bad signature"}, status=401)
        if fault is not None:
            if fault.after_processing:
                with self._lock:
                    self._take_in(got)
            if fault.delay:
                await asyncio.sleep(fault.delay)
            got.status = fault.status
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
            return web.json_response({"error": "injected"}, status=fault.status, headers=headers)
        with self._lock:
            repeat = got.key in self.accepted
            self._take_in(got)
        got.status = 200
        return web.json_response({"ok": True, "repeat": repeat})
