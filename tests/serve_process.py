"""`cxloop serve` as a real subprocess, for tests that need the process itself (signals, kill -9)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from typing import Any

import aiohttp

from tests.conftest import cli_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """`cxloop serve --port P *args` with `env` on top of the test's environment; waits for /healthz."""

    def __init__(self, *args: str, env: dict[str, str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**cli_env(), **env}
        self.env.pop("CXLOOP_CONFIG", None)
        self.argv = [sys.executable, "-m", "handlers.cli", "serve", "--port", str(self.port), *args]
        self.proc: subprocess.Popen[str] | None = None
        self.out = self.err = ""

    async def start(self) -> "ServeProcess":
        # A session of its own, so kill_all() can take the worker processes down with the server.
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                try:
                    async with http.get(self.url + "/healthz") as r:
                        if r.status == 200:
                            return self
                except aiohttp.ClientError:
                    pass
                if self.proc.poll() is not None:
                    out, err = self.proc.communicate()
                    raise AssertionError(f"cxloop serve exited with {self.proc.returncode}:\n{out}\n{err}")
                await asyncio.sleep(0.1)
        raise AssertionError("cxloop serve did not answer /healthz within 60 s")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Send `sig` (SIGKILL: die at once) and wait; returns the exit code, keeps stdout/stderr.
        A server still up after `timeout` seconds is killed with its worker processes."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, err = self.proc.communicate()
            err += f"\n[serve_process: still running {timeout:.0f} s after signal {sig}; killed]"
        self.out, self.err = self.out + out, self.err + err
        return self.proc.returncode

    def kill_all(self) -> None:
        """SIGKILL the server and its worker processes at once, as a crash or an OOM kill would."""
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.stop(signal.SIGKILL)

    async def __aexit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
        if self.proc is not None:
            # The worker processes are in the server's session (its pid is their group): none outlives the test.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    async def __aenter__(self) -> "ServeProcess":
        return await self.start()

