"""POST /api/messages: where the Bot Framework delivers Teams activities to cxloop."""

from __future__ import annotations

import ipaddress
import json
import logging
from urllib.parse import urlparse

from aiohttp import web
from botbuilder.core import Bot, serializer_helper
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity
from requests import RequestException

from handlers.teams.guard import refusal

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # Teams activities are a few KB; this is generous


def _is_local(url: str | None) -> bool:
    host = (urlparse(url or "").hostname or "").strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def add_routes(app: web.Application, adapter: CloudAdapter, bot: Bot, *, authenticated: bool,
               tenant_id: str | None = None) -> None:
    """Mount the Bot Framework messaging endpoint: Teams only, real people only, and with `tenant_id` only that
    organisation (`guard.py`)."""

    async def messages(request: web.Request) -> web.StreamResponse:
        if "application/json" not in request.headers.get("Content-Type", ""):
            return web.json_response({"error": "expected application/json"}, status=415)
        too_big = web.json_response({"error": "body over 1 MiB"}, status=413)
        if (request.content_length or 0) > MAX_BODY:
            return too_big
        body = bytearray()
        async for chunk in request.content.iter_chunked(64 * 1024):
            body += chunk
            if len(body) > MAX_BODY:
                return too_big
        try:
            data = json.loads(body)
            activity = Activity().deserialize(data) if isinstance(data, dict) else None
        except (ValueError, TypeError, AttributeError):
            activity = None
        if activity is None or not activity.type:
            return web.json_response({"error": "not a Bot Framework activity"}, status=400)
        if not authenticated and not _is_local(activity.service_url):
            # Without authentication, the serviceUrl is whatever the caller says: never post anywhere
            # but this machine (the Emulator or a stand-in).
            log.warning("teams: refused an unauthenticated activity for serviceUrl %r", activity.service_url)
            return web.json_response({"error": "authentication is off: only a local serviceUrl is accepted"},
                                     status=403)
        header = request.headers.get("Authorization") or None
        try:
            auth = await adapter.bot_framework_authentication.authenticate_request(activity, header)
        except RequestException as exc:
            # Microsoft's signing keys could not be fetched: the Bot Framework retries later.
            log.error("teams: could not check a token (signing keys unreachable): %r", exc)
            return web.json_response({"error": "cannot check the token now"}, status=503)
        except Exception as exc:  # botbuilder raises PermissionError, PyJWT errors, bare Exceptions
            log.warning("teams: refused a request with a bad or missing token: %s", type(exc).__name__)
            return web.json_response({"error": "unauthorized"}, status=401)
        refused = refusal(activity, tenant_id=tenant_id)
        if refused is not None:
            log.warning("teams: refused an activity: %s", refused.reason)
            return web.json_response({"error": refused.answer}, status=403)
        invoke = await adapter.process_activity(auth, activity, bot.on_turn)
        if invoke is not None:
            body = invoke.body
            # The activity handler hands back bodies already serialized; anything else is a msrest Model.
            if body is not None and not isinstance(body, (dict, list, str, int, float, bool)):
                body = serializer_helper(body)
            return web.json_response(body, status=invoke.status)
        return web.Response(status=200)

    app.router.add_post("/api/messages", messages)
