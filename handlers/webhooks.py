"""`POST /webhooks/{source}`: survey intake over HTTP. Parsing lives in handlers/intake."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from bot.intake import IntakeResult, record_comment_update, record_response
from bot.runtime import Runtime
from handlers.intake import sources
from handlers.intake.sources import IntakeError, PayloadTooLarge, UnknownSource
from storage.types import utcnow

log = logging.getLogger(__name__)

PARSERS = {
    sources.GENERIC: sources.parse_generic,
    sources.DELIGHTED: sources.parse_delighted,
    sources.TYPEFORM: sources.parse_typeform,
    sources.FORMBRICKS: sources.parse_formbricks,
}


async def _read_limited(request: web.Request) -> bytes:
    """The body, refusing anything over 1 MiB without reading it all."""
    if request.content_length is not None and request.content_length > sources.MAX_BODY:
        raise PayloadTooLarge(f"body is {request.content_length} bytes; the limit is {sources.MAX_BODY} (1 MiB)")
    body = await request.content.read(sources.MAX_BODY + 1)
    if len(body) > sources.MAX_BODY:
        raise PayloadTooLarge(f"body is over the {sources.MAX_BODY}-byte (1 MiB) limit")
    return body


def add_routes(app: web.Application, rt: Runtime) -> None:
    async def receive(request: web.Request) -> web.Response:
        source = request.match_info["source"]
        try:
            parser = PARSERS.get(source)
            if parser is None:
                raise UnknownSource(f"unknown webhook source {source!r}; use one of {', '.join(PARSERS)}")
            body = await _read_limited(request)
            parsed = parser(body, request.headers, settings=rt.settings, workspace=rt.workspace, now=utcnow())
        except IntakeError as exc:
            return web.json_response(exc.as_dict(), status=exc.status)
        if parsed.is_ignored:
            return web.json_response({"status": "ignored", "reason": parsed.ignored}, status=200)

        def store() -> list[IntakeResult]:
            out = []
            for r in parsed.responses:
                fn = record_comment_update if parsed.update_existing else record_response
                out.append(fn(rt.engine, rt.workspace, r, event_id=parsed.event_id, now=rt.now()))
            for cb in rt.on_queued:
                cb()
            return out

        results = await asyncio.to_thread(store)
        created = any(r.created for r in results)
        docs = [r.as_dict() for r in results]
        body = docs[0] if len(docs) == 1 else {"results": docs}
        return web.json_response(body, status=202 if created else 200)

    app.router.add_post("/webhooks/{source}", receive)
