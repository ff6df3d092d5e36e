"""A bare HTTP/1.1 client on an asyncio socket: sends a request in pieces, with pauses, as a slow network does."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class RawReply:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


async def post_in_pieces(url: str, body: bytes, headers: dict[str, str], *, pieces: int = 4, pause: float = 0.3,
                         chunked: bool = False) -> RawReply:
    """POST `body` to `url`, the head first and then the body in `pieces` TCP writes `pause` seconds apart.

    With `chunked`, the body goes as Transfer-Encoding: chunked (no Content-Length), one chunk per piece.
    """
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        head = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {parts.hostname}:{parts.port}", "Connection: close"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        size = max(1, -(-len(body) // pieces))
        try:
            for start in range(0, len(body), size):
                await asyncio.sleep(pause)
                piece = body[start:start + size]
                writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece)
                await writer.drain()
            if chunked:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (ConnectionResetError, BrokenPipeError):
            pass  # the server answered (a 413, say) and closed before the whole body was sent
        raw = await asyncio.wait_for(reader.read(), 60)
    finally:
        writer.close()
    head_bytes, _, rest = raw.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if fields.get("transfer-encoding") == "chunked":
        out = bytearray()
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            n = int(size_line, 16)
            if n == 0:
                break
            out += rest[:n]
            rest = rest[n + 2:]
        rest = bytes(out)
    return RawReply(status, rest)
