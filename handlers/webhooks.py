"""`POST /webhooks/{source}`: survey intake over HTTP. Parsing lives in handlers/intake."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from bot.config import Settings
from bot.intake.store import IntakeResult, record_comment_update, record_response
from bot.machinery.runtime import Runtime
from handlers import intake
from handlers.body import BodyTooLarge, read_body
from handlers.intake import IntakeError, PayloadTooLarge, UnknownSource
from storage.types import utcnow

log = logging.getLogger(__name__)

async def _read_limited(request: web.Request) -> bytes:
    """The whole body, or PayloadTooLarge past 1 MiB."""
    try:
        return await read_body(request)
    except BodyTooLarge as exc:
        raise PayloadTooLarge(str(exc)) from None


def describe_intake(settings: Settings) -> str:
    """For the start-up line: how each source's deliveries are taken."""
    parts = []
    for source in intake.SOURCES:
        if intake.secret_for(source, settings):
            parts.append(f"{source} signed")
        elif settings.cxloop_allow_unsigned_webhooks:
            parts.append(f"{source} UNSIGNED")
        else:
            parts.append(f"{source} refused (no {intake.SECRET_SETTINGS[source].upper()})")
    return ", ".join(parts)


def warn_if_unsigned(settings: Settings) -> None:
    """Say loudly, at start, that anyone who can reach the server can open cases."""
    unsigned = [s for s in intake.SOURCES if not intake.secret_for(s, settings)]
    if settings.cxloop_allow_unsigned_webhooks and unsigned:
        log.warning("!" * 78)
        log.warning("%s=1: UNSIGNED webhooks are accepted on /webhooks/%s. Anyone who can reach this "
                    "server can open cases. Use it for local traffic only; in production set each source's "
                    "secret instead.", intake.ALLOW_UNSIGNED_ENV, "|".join(unsigned))
        log.warning("!" * 78)


def add_routes(app: web.Application, rt: Runtime) -> None:
    async def receive(request: web.Request) -> web.Response:
        source = request.match_info["source"]
        try:
            parser = intake.PARSERS.get(source)
            if parser is None:
                raise UnknownSource(f"unknown webhook source {source!r}; use one of {', '.join(intake.PARSERS)}")
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
