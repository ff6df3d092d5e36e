"""POST /api/messages: where the Bot Framework delivers Teams activities to cxloop."""

from __future__ import annotations

import ipaddress
import logging
from urllib.parse import urlparse

from aiohttp import web
from botbuilder.core import Bot, serializer_helper
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity
from requests import RequestException

from handlers.body import BodyTooLarge, NotJson, loads, read_body, too_large
from handlers.teams.guard import refusal
from handlers.teams.inbox import TeamsInbox, deferred

log = logging.getLogger(__name__)


def _is_local(url: str | None) -> bool:
    host = (urlparse(url or "").hostname or "").strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def add_routes(app: web.Application, adapter: CloudAdapter, bot: Bot, *, authenticated: bool,
               tenant_id: str | None = None, inbox: TeamsInbox | None = None) -> None:
    """Mount the Bot Framework messaging endpoint: Teams only, real people only, and with `tenant_id` only that
    organisation (`guard.py`). With `inbox`, activities other than invokes are stored and acknowledged, and
    handled after."""

    async def messages(request: web.Request) -> web.StreamResponse:
        if "application/json" not in request.headers.get("Content-Type", ""):
            return web.json_response({"error": "expected application/json"}, status=415)
        try:
            raw = await read_body(request)
        except BodyTooLarge as exc:
            return too_large(exc)
        # The token is checked against the activity (its serviceUrl), so the body is parsed first:
        # within bounds (nesting included), and any failure is a 400.
        try:
            data = loads(raw)
        except NotJson as exc:
            return web.json_response({"error": f"not a Bot Framework activity: {exc}"}, status=400)
        try:
            activity = Activity().deserialize(data) if isinstance(data, dict) else None
        except Exception:  # noqa: BLE001 - msrest raises DeserializationError, TypeError, ValueError...
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
            why = ("no Authorization header (a Bot Framework token is required)" if header is None
                   else f"the Bot Framework token was refused ({type(exc).__name__}: {str(exc)[:200]})")
            return web.json_response({"error": f"unauthorized: {why}"}, status=401)
        refused = refusal(activity, tenant_id=tenant_id)
        if refused is not None:
            log.warning("teams: refused an activity: %s", refused.reason)
            return web.json_response({"error": refused.answer}, status=403)
        if inbox is not None and deferred(activity):
            try:
                await inbox.accept(activity, data, auth)
            except Exception:
                # Not acknowledged, so the Bot Framework delivers it again later.
                log.exception("teams: could not store a %s activity; it is not acknowledged", activity.type)
                return web.json_response({"error": "cxloop could not store this activity; try again"}, status=503)
            return web.Response(status=200)
        invoke = await adapter.process_activity(auth, activity, bot.on_turn)
        if invoke is not None:
            body = invoke.body
            # The activity handler hands back bodies already serialized; anything else is a msrest Model.
            if body is not None and not isinstance(body, (dict, list, str, int, float, bool)):
                body = serializer_helper(body)
            return web.json_response(body, status=invoke.status)
        return web.Response(status=200)

    app.router.add_post("/api/messages", messages)
