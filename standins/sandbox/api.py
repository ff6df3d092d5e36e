"""The sandbox page and its API: JSON over what the stand-ins recorded, and endpoints that act as a person.

Routes (all on 127.0.0.1):
- `GET /` the page; `GET /static/…` its files; `GET /vendor/…` Microsoft's Adaptive Cards renderer
  and markdown-it, from the npm packages `make sandbox` installs (never from the repository);
- `GET /api/world` people, channels, the clock; `GET /api/events` server-sent events, one each time
  something changed (the page then asks again for what it shows);
- Slack: `GET /api/slack/view`, `POST /api/slack/{action,submit,close,command,home}`,
  `GET /api/slack/files/{id}`;
- Teams: `GET /api/teams/view`, `POST /api/teams/{click,submit,close,message}`;
- `POST /api/customer` a survey answer through the signed webhook; `POST /api/clock` run-due at an instant.

Bad requests answer 400 with `{"error": "…"}` naming the problem.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from aiohttp import web

from standins.sandbox.slack_side import SandboxError

if TYPE_CHECKING:
    from standins.sandbox.world import Sandbox

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
NODE_MODULES_ENV = "CXLOOP_SANDBOX_NODE_MODULES"
# The npm packages the page loads, by the name it asks for: (package folder, file inside it).
VENDOR = {
    "adaptivecards.min.js": ("adaptivecards", "dist/adaptivecards.min.js"),
    "markdown-it.min.js": ("markdown-it", "dist/markdown-it.min.js"),
}
SANDBOX = web.AppKey("sandbox", object)
EVENTS_POLL = 0.2  # seconds between looks at the stand-ins for something new
_customer_ids = itertools.count(1)


def node_modules(sandbox: Sandbox) -> Path:
    """Where `make sandbox` installed the npm packages: standins/sandbox/node_modules, or $CXLOOP_SANDBOX_NODE_MODULES."""
    if sandbox.node_modules is not None:
        return sandbox.node_modules
    env = os.environ.get(NODE_MODULES_ENV)
    return Path(env) if env else Path(__file__).parent / "node_modules"


def renderer_installed(sandbox: Sandbox) -> bool:
    base = node_modules(sandbox)
    return all((base / pkg / path).is_file() for pkg, path in VENDOR.values())


def build_page_app(sandbox: Sandbox) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024, middlewares=[_errors])
    app[SANDBOX] = sandbox
    r = app.router
    r.add_get("/", index)
    r.add_static("/static/", STATIC, show_index=False)
    r.add_get("/vendor/{name}", vendor)
    r.add_get("/api/world", world)
    r.add_get("/api/events", events)
    r.add_get("/api/slack/view", slack_view)
    r.add_post("/api/slack/action", slack_action)
    r.add_post("/api/slack/submit", slack_submit)
    r.add_post("/api/slack/close", slack_close)
    r.add_post("/api/slack/command", slack_command)
    r.add_post("/api/slack/home", slack_home)
    r.add_get("/api/slack/files/{file_id}", slack_file)
    r.add_get("/api/teams/view", teams_view)
    r.add_post("/api/teams/click", teams_click)
    r.add_post("/api/teams/submit", teams_submit)
    r.add_post("/api/teams/close", teams_close)
    r.add_post("/api/teams/message", teams_message)
    r.add_post("/api/customer", customer)
    r.add_post("/api/clock", move_clock)
    return app


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except SandboxError as exc:
        return web.json_response({"error": str(exc)}, status=400)


def _sb(request: web.Request) -> Sandbox:
    return request.app[SANDBOX]  # type: ignore[return-value]


async def _body(request: web.Request, *required: str) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise SandboxError("the body is not JSON") from None
    if not isinstance(body, dict):
        raise SandboxError("the body must be a JSON object")
    missing = [k for k in required if body.get(k) in (None, "")]
    if missing:
        raise SandboxError(f"missing: {', '.join(missing)}")
    if "as" in body:
        _person(request, str(body["as"]))
    return body


def _person(request: web.Request, slack_id: str) -> str:
    try:
        return _sb(request).person(slack_id).slack_id
    except LookupError as exc:
        raise SandboxError(str(exc)) from None


def _viewer(request: web.Request) -> str:
    who = request.query.get("as")
    if not who:
        raise SandboxError("say who is looking: ?as=U0ALICE")
    return _person(request, who)


# --- the page -------------------------------------------------------------------------------


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


async def vendor(request: web.Request) -> web.StreamResponse:
    entry = VENDOR.get(request.match_info["name"])
    if entry is None:
        raise web.HTTPNotFound(text="not a vendored file")
    path = node_modules(_sb(request)) / entry[0] / entry[1]
    if not path.is_file():
        return web.Response(status=404, text=f"{entry[0]} is not installed: run `make sandbox` (npm install into "
                                             f"{path.parents[len(Path(entry[1]).parts) - 1]})")
    return web.FileResponse(path)


async def world(request: web.Request) -> web.Response:
    sb = _sb(request)
    roles = await asyncio.to_thread(sb.roles)
    now = sb.clock()
    people = []
    for p in sb.people:
        r = roles.get(p.slack_id, {"role": "agent", "teams": [], "manages": []})
        people.append({"id": p.slack_id, "aad": p.aad, "name": p.name, "tz": p.tz, **r})
    teams = [{"key": t.key, "title": t.title, "slack_channel": t.slack_channel, "teams_channel": t.teams_channel,
              "touchpoints": list(t.touchpoints)} for t in sb.ws.teams]
    return web.json_response({
        "people": people, "teams": teams, "timezone": sb.ws.timezone,
        "clock": {"now": now.isoformat(), "presets": clock_presets(sb, now)},
        "renderer": renderer_installed(sb), "cxloop": sb.cx_url,
        "sample": {"imported": sb.sample_report.imported, "cases_opened": sb.sample_report.cases_opened},
    })


def clock_presets(sb: Sandbox, now: datetime) -> list[dict[str, str]]:
    """Instants worth jumping to from `now`: an hour on, a day on, the next digest, the next Customer Service Week."""
    from bot.recognition.csweek import week_of

    zone = ZoneInfo(sb.ws.timezone)
    out = [{"label": "+1 hour", "at": (now + timedelta(hours=1)).isoformat()},
           {"label": "+1 day", "at": (now + timedelta(days=1)).isoformat()}]
    digest = sb.ws.digest
    local = now.astimezone(zone)
    day = local.date() + timedelta(days=(digest.day - local.weekday()) % 7)
    at = datetime.combine(day, digest.time, tzinfo=zone)
    if at <= now:
        at += timedelta(days=7)
    out.append({"label": f"{at:%A %H:%M}: the weekly digest", "at": at.astimezone(timezone.utc).isoformat()})
    for year in (local.year, local.year + 1):
        week = week_of(sb.ws, year)
        if week.opens > now:
            out.append({"label": f"Customer Service Week {year}", "at": week.opens.isoformat()})
            break
    return out


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: `change` each time the stand-ins or the sandbox have something new."""
    sb = _sb(request)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    last: tuple[int, ...] = ()
    beat = 0
    try:
        while not sb.closing.is_set():
            now = (len(sb.slack.calls), len(sb.teams.calls), len(sb.teams.to_bot), sb.changes)
            if now != last:
                last = now
                await response.write(f"event: change\ndata: {json.dumps({'v': sum(now)})}\n\n".encode())
            elif beat % 50 == 0:
                await response.write(b": keep-alive\n\n")
            beat += 1
            await asyncio.sleep(EVENTS_POLL)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return response


# --- Slack ----------------------------------------------------------------------------------


async def slack_view(request: web.Request) -> web.Response:
    sb = _sb(request)
    viewer = _viewer(request)
    channel = request.query.get("channel") or ""
    side = sb.slack_side
    out: dict[str, Any] = {"channels": side.channels(viewer), "modal": side.modal(viewer)}
    if channel == "home":
        out["home"] = side.home(viewer)
    elif channel:
        out["messages"] = side.messages(viewer, channel)
    return web.json_response(out)


async def slack_action(request: web.Request) -> web.Response:
    body = await _body(request, "as", "where", "action_id")
    status = await _sb(request).slack_side.act(body["as"], body["where"], str(body["action_id"]),
                                               selected_user=body.get("selected_user"),
                                               selected_option=body.get("selected_option"))
    return web.json_response({"status": status})


async def slack_submit(request: web.Request) -> web.Response:
    body = await _body(request, "as", "view_id")
    values = body.get("values") or {}
    if not isinstance(values, dict):
        raise SandboxError("values must be an object {block_id: value}")
    return web.json_response(await _sb(request).slack_side.submit(body["as"], str(body["view_id"]), values))


async def slack_close(request: web.Request) -> web.Response:
    body = await _body(request, "as", "view_id")
    _sb(request).slack_side.close_modal(body["as"], str(body["view_id"]))
    return web.json_response({"closed": True})


async def slack_command(request: web.Request) -> web.Response:
    body = await _body(request, "as", "channel", "text")
    status = await _sb(request).slack_side.command(body["as"], str(body["channel"]), str(body["text"]))
    return web.json_response({"status": status})


async def slack_home(request: web.Request) -> web.Response:
    body = await _body(request, "as")
    return web.json_response({"status": await _sb(request).slack_side.open_home(body["as"])})


async def slack_file(request: web.Request) -> web.StreamResponse:
    found = _sb(request).slack_side.file(request.match_info["file_id"])
    if found is None:
        raise web.HTTPNotFound(text="no such file")
    content, mime = found
    return web.Response(body=content, content_type=mime)


# --- Teams ----------------------------------------------------------------------------------


async def teams_view(request: web.Request) -> web.Response:
    sb = _sb(request)
    viewer = _viewer(request)
    side = sb.teams_side
    conversation = request.query.get("conversation") or ""
    out: dict[str, Any] = {"conversations": side.conversations(viewer), "dialog": side.dialog(viewer)}
    if conversation:
        out["messages"] = side.messages(viewer, conversation)
    return web.json_response(out)


async def teams_click(request: web.Request) -> web.Response:
    body = await _body(request, "as", "conversation", "activity", "title")
    return web.json_response(await _sb(request).teams_side.click(body["as"], str(body["conversation"]),
                                                                 str(body["activity"]), str(body["title"])))


async def teams_submit(request: web.Request) -> web.Response:
    body = await _body(request, "as", "dialog")
    inputs = body.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise SandboxError("inputs must be an object {input id: value}")
    return web.json_response(await _sb(request).teams_side.submit(body["as"], str(body["dialog"]), inputs))


async def teams_close(request: web.Request) -> web.Response:
    body = await _body(request, "as", "dialog")
    _sb(request).teams_side.close_dialog(body["as"], str(body["dialog"]))
    return web.json_response({"closed": True})


async def teams_message(request: web.Request) -> web.Response:
    body = await _body(request, "as", "conversation", "text")
    status = await _sb(request).teams_side.message(body["as"], str(body["conversation"]), str(body["text"]))
    return web.json_response({"status": status})


# --- the customer and the clock -------------------------------------------------------------


async def customer(request: web.Request) -> web.Response:
    """A customer answers a survey: the signed generic webhook, as a survey tool sends it. `repeat`
    sends the last answer again, as a survey tool retrying a delivery would."""
    from handlers.intake.signing import sign_generic
    from standins.sandbox.world import WEBHOOK_SECRET

    sb = _sb(request)
    body = await _body(request)
    if body.get("repeat"):
        raw = getattr(sb, "last_answer", None)
        if raw is None:
            raise SandboxError("no answer has been sent yet")
    else:
        try:
            score = int(body.get("score"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise SandboxError("score must be a whole number") from None
        payload = {"id": f"sandbox-{sb.clock():%Y%m%d%H%M%S}-{next(_customer_ids)}",
                   "survey": str(body.get("survey") or "nps"), "score": score,
                   "comment": str(body.get("comment") or ""),
                   "customer": {"id": str(body.get("customer_id") or "c-sandbox"),
                                "name": str(body.get("name") or ""), "email": str(body.get("email") or "")},
                   "touchpoint": str(body.get("touchpoint") or "phone"),
                   "responded_at": sb.clock().isoformat().replace("+00:00", "Z")}
        payload["customer"] = {k: v for k, v in payload["customer"].items() if v}
        raw = json.dumps(payload).encode()
        sb.last_answer = raw  # type: ignore[attr-defined]
    async with sb.http.post(f"{sb.cx_url}/webhooks/generic", data=raw, headers={
            "Content-Type": "application/json", "X-Cxloop-Signature": sign_generic(raw, WEBHOOK_SECRET)}) as r:
        text = await r.text()
        try:
            answer: Any = json.loads(text)
        except ValueError:
            answer = text
    sb.changes += 1
    return web.json_response({"status": r.status, "answer": answer, "sent": json.loads(raw)})


async def move_clock(request: web.Request) -> web.Response:
    sb = _sb(request)
    body = await _body(request, "at")
    value = str(body["at"]).strip()
    try:
        at = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        raise SandboxError(f"{value!r} is not an ISO-8601 instant (2026-11-23T09:00:00Z)") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(sb.ws.timezone))  # a time typed on the page is the workspace's
    try:
        ran_at, summary = await sb.run_due(at)
    except ValueError as exc:
        raise SandboxError(str(exc)) from None
    return web.json_response({"ran_at": ran_at.isoformat(), "now": sb.clock().isoformat(), "summary": summary})
