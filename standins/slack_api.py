"""A local stand-in of Slack's Web API, for tests and `cxloop demo`.

Real slack_sdk clients talk to it over HTTP (``WebClient(base_url=stand_in.api_url)``). It keeps
channels, messages, views and files in memory, records every call, and injects the failures that
delivery code has to survive: 429s, 5xx answers, slow answers, and work done but never acknowledged.

Two ways to run it:
- ``async with SlackStandIn() as slack:`` on the running loop (use AsyncWebClient there: a blocking
  WebClient on the same loop would wait forever for a server that cannot run);
- ``with SlackStandIn.in_thread() as slack:`` on its own loop in a background thread.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import mimetypes
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

TEAM_ID = "T0CXLOOP"
TEAM_NAME = "cxloop demo"
BOT_USER_ID = "U0CXBOT"
BOT_ID = "B0CXBOT"
APP_ID = "A0CXLOOP"
# Bolt reads the granted scopes from this header of the auth.test answer.
SCOPES = "chat:write,chat:write.public,commands,files:write,im:write,users:read,users:read.email"

MAX_TEXT = 40_000  # Slack truncates past 40,000 characters and rejects far longer; we reject.
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
# Form-encoded clients send these as JSON strings; decoded so tests can inspect structures.
JSON_FIELDS = ("blocks", "attachments", "view", "metadata", "files")
CONTENT_FIELDS = ("text", "blocks", "attachments", "metadata", "markdown_text")

_CHANNEL_ID = re.compile(r"[CDG][A-Z0-9]{2,}")
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


class _ApiError(Exception):
    """A Slack API error, answered as HTTP 200 with ``{"ok": false, "error": code}``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class SlackCall:
    """One request the stand-in received."""

    method: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float
    status: int | None = None  # the HTTP status answered; None while the request is in flight

    @property
    def token(self) -> str | None:
        """The token sent, from the Authorization header or the `token` field."""
        auth = next((v for k, v in self.headers.items() if k.lower() == "authorization"), "")
        if auth.startswith("Bearer "):
            return auth.removeprefix("Bearer ").strip() or None
        return self.body.get("token") or None


@dataclass
class _Fault:
    """A failure queued for the next calls of one method."""

    status: int | None
    retry_after: int | None
    delay: float
    error: str | None
    after_processing: bool
    remaining: int


class SlackStandIn:
    """An in-memory Slack workspace behind Slack's Web API, on 127.0.0.1 and a free port."""

    def __init__(self, *, token: str = "xoxb-test", enforce_channel_rate: bool = False,
                 team_url: str = "https://cxloop-demo.slack.com/") -> None:
        self.token = token
        self.enforce_channel_rate = enforce_channel_rate
        self.team_url = team_url
        self.home_views: dict[str, dict[str, Any]] = {}  # user id -> the Home tab last published
        self.files: dict[str, dict[str, Any]] = {}  # file id -> metadata and uploaded `content`
        self.ephemerals: list[dict[str, Any]] = []
        self.rejected_429 = 0  # every 429 answered, injected or enforced
        self._lock = threading.RLock()
        self._answered = threading.Condition(self._lock)
        self._calls: list[SlackCall] = []
        self._faults: dict[str, deque[_Fault]] = {}
        self._chaos_rate = 0.0
        self._chaos_methods: set[str] = set()
        self._chaos_random = random.Random()
        self.chaos_counts: dict[str, int] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._channels: dict[str, str] = {}  # id -> name; once non-empty, only these are accepted
        self._conversations: dict[str, str] = {}  # sorted user ids -> DM or group DM id
        self._messages: dict[str, dict[str, dict[str, Any]]] = {}  # channel -> ts -> message, oldest first
        self._views: dict[str, dict[str, Any]] = {}
        self._view_triggers: dict[str, str] = {}  # trigger_id -> id of the view opened or pushed with it
        self._last_post: dict[str, float] = {}
        self._last_ts_us = 0
        self._serial = 0
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "users.info": self._users_info,
            "users.list": self._users_list,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
        }

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's root URL, e.g. ``http://127.0.0.1:54321``."""
        if self._port is None:
            raise RuntimeError("the Slack stand-in is not running")
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        """The Web API base URL to give slack_sdk clients as `base_url`."""
        return f"{self.url}/api/"

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port and start answering."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{file_id}", self._handle_upload)
        app.router.add_post("/response/{token}", self._handle_response_url)
        self._closing = asyncio.Event()
        # A short shutdown timeout: tests start and stop many instances.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]

    async def close(self) -> None:
        """Stop answering and release the port."""
        if self._closing is not None:
            self._closing.set()  # cut injected delays short, so shutdown does not wait them out
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SlackStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @classmethod
    @contextmanager
    def in_thread(cls, **options: Any) -> Iterator[SlackStandIn]:
        """Run a stand-in on its own event loop in a background thread, for synchronous callers."""
        stand_in = cls(**options)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="slack-stand-in", daemon=True)
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

    # ---- set-up, faults and inspection for tests ------------------------------------------

    def add_user(self, user_id: str, *, name: str, tz: str = "UTC", tz_offset: int | None = None,
                 email: str | None = None, display_name: str = "", is_admin: bool = False,
                 is_bot: bool = False, deleted: bool = False) -> None:
        """Add a workspace member; `name` is the real name, `tz_offset` defaults to the zone's current offset."""
        now = datetime.now(ZoneInfo(tz))
        offset = int(now.utcoffset().total_seconds()) if tz_offset is None else tz_offset  # type: ignore[union-attr]
        profile: dict[str, Any] = {
            "real_name": name, "real_name_normalized": name,
            # Slack leaves display_name empty unless the person set one: clients must fall back.
            "display_name": display_name, "display_name_normalized": display_name, "team": TEAM_ID,
        }
        if email is not None:
            profile["email"] = email
        user = {
            "id": user_id, "team_id": TEAM_ID, "name": ".".join(name.lower().split()), "deleted": deleted,
            "real_name": name, "tz": tz, "tz_label": now.tzname(), "tz_offset": offset,
            "profile": profile, "is_admin": is_admin, "is_owner": False, "is_bot": is_bot,
            "is_app_user": False, "updated": int(time.time()),
        }
        with self._lock:
            self._users[user_id] = user

    def add_channel(self, channel_id: str, *, name: str) -> None:
        """Declare a channel; once any is declared, posting elsewhere fails with channel_not_found."""
        with self._lock:
            self._channels[channel_id] = name

    def fail_next(self, method: str, *, status: int | None = None, retry_after: int | None = None,
                  delay: float = 0.0, error: str | None = None, times: int = 1) -> None:
        """Make the next `times` calls of `method` fail: an HTTP `status`, a Slack `error`, or only a `delay`.

        With none of them given the failure is a 500. A delay alone answers normally, late.
        """
        if status is None and error is None and not delay:
            status = 500
        if status == 429 and retry_after is None:
            retry_after = 1  # Slack always says when to come back
        self._queue_fault(method, _Fault(status, retry_after, delay, error, False, times))

    def fail_after_processing(self, method: str, *, status: int = 500, times: int = 1) -> None:
        """Do the work of the next `times` calls of `method`, then answer `status` as if it had failed."""
        self._queue_fault(method, _Fault(status, 1 if status == 429 else None, 0.0, None, True, times))

    def chaos(self, rate: float, *, methods: tuple[str, ...] = ("chat.postMessage", "chat.update"),
              seed: int | None = None) -> None:
        """From now on fail a `rate` share of the calls to `methods` at random, in three equal parts:
        429 with Retry-After 1, 500 before doing anything, and 500 after doing the work (the caller
        cannot tell the last from the second). Queued faults (`fail_next`) still come first."""
        with self._lock:
            self._chaos_rate, self._chaos_methods = rate, set(methods)
            self._chaos_random = random.Random(seed)
            self.chaos_counts = {"429": 0, "500_before": 0, "500_after": 0}

    @property
    def calls(self) -> list[SlackCall]:
        """Every call received so far, oldest first (a snapshot)."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[SlackCall]:
        """The calls of one method (e.g. "chat.postMessage"; "upload" for the upload URL)."""
        with self._lock:
            return [c for c in self._calls if c.method == method]

    def clear(self) -> None:
        """Forget the recorded calls; the workspace's messages, views and files stay."""
        with self._lock:
            self._calls.clear()

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Every message stored in a channel, thread replies included, oldest first (copies)."""
        with self._lock:
            return copy.deepcopy(list(self._messages.get(channel, {}).values()))

    def dm_channel(self, user_id: str) -> str | None:
        """The id of the bot's DM with `user_id`, once cxloop has opened it (None before)."""
        with self._lock:
            return self._conversations.get(user_id)

    def view(self, view_id: str) -> dict[str, Any] | None:
        """A modal as last opened, pushed or updated (a copy), or None."""
        with self._lock:
            view = self._views.get(view_id)
            return copy.deepcopy(view) if view is not None else None

    def view_for_trigger(self, trigger_id: str) -> str | None:
        """The id of the modal opened (or pushed) with `trigger_id`: who sees a modal follows from whose
        click carried the trigger, as on Slack."""
        with self._lock:
            return self._view_triggers.get(trigger_id)

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 5.0) -> list[SlackCall]:
        """Block until `count` calls of `method` have been answered; call it from outside the stand-in's loop."""
        deadline = time.monotonic() + timeout
        with self._answered:
            while len(done := [c for c in self._calls if c.method == method and c.status is not None]) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(done)} of {count} {method} calls answered after {timeout}s")
                self._answered.wait(remaining)
            return done

    # ---- HTTP ------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            body = await _read_body(request)
        except _ApiError as exc:
            return self._answer(self._record(method, {}, request), {"ok": False, "error": exc.code})
        call = self._record(method, body, request)
        handler = self._methods.get(method)
        if handler is None:
            return self._answer(call, {"ok": False, "error": "unknown_method"})
        token = call.token
        if token != self.token:
            return self._answer(call, {"ok": False, "error": "invalid_auth" if token else "not_authed"})
        return await self._serve(call, lambda: handler(body))

    @property
    def response_base(self) -> str:
        """Where `response_url`s handed out in stand-in payloads point: answers are recorded as
        calls of method "response_url" with the token in `body["token"]`."""
        return f"{self.url}/response"

    def responses(self, token: str | None = None) -> list[dict[str, Any]]:
        """Bodies posted to response URLs (optionally to one), oldest first."""
        return [c.body for c in self.calls_to("response_url") if token is None or c.body.get("token") == token]

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        # Slack's response_url takes JSON without a token, like the one in slash-command payloads.
        try:
            body = json.loads((await request.read()) or b"{}")
        except ValueError:
            body = {}
        call = self._record("response_url", {**body, "token": request.match_info["token"]}, request)
        if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
            return self._answer(call, {"ok": False, "error": "no_text"}, status=400)
        return self._answer(call, {"ok": True})

    async def _handle_upload(self, request: web.Request) -> web.Response:
        # The upload URL is pre-signed, as Slack's is: no token needed.
        file_id = request.match_info["file_id"]
        content = await request.read()
        call = self._record("upload", {"file_id": file_id, "content": content}, request)
        with self._lock:
            if file_id not in self.files:
                return self._answer(call, "Not Found", status=404)

        def store() -> str:
            self.files[file_id]["content"] = content
            return f"OK - {len(content)}"

        return await self._serve(call, store)

    async def _serve(self, call: SlackCall, work: Callable[[], dict[str, Any] | str]) -> web.Response:
        """Answer one authorised call, applying any queued fault and the channel rate limit."""
        fault = self._take_fault(call.method)
        if fault is not None and fault.delay:
            await self._pause(fault.delay)
        if fault is not None and not fault.after_processing and (fault.status or fault.error):
            return self._fault_answer(call, fault)
        if self._over_channel_rate(call):
            return self._answer(call, {"ok": False, "error": "ratelimited"}, status=429, retry_after=1)
        with self._lock:
            try:
                result = work()
                payload: dict[str, Any] | str = {"ok": True, **result} if isinstance(result, dict) else result
            except _ApiError as exc:
                payload = {"ok": False, "error": exc.code}
            if fault is not None and fault.after_processing:
                return self._fault_answer(call, fault)
            return self._answer(call, payload)

    def _record(self, method: str, body: dict[str, Any], request: web.Request) -> SlackCall:
        call = SlackCall(method=method, body=body, headers=dict(request.headers), at=time.time())
        with self._lock:
            self._calls.append(call)
        return call

    def _answer(self, call: SlackCall, payload: dict[str, Any] | str, *, status: int = 200,
                retry_after: int | None = None) -> web.Response:
        headers = {"X-OAuth-Scopes": SCOPES}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        with self._answered:
            # Serialised under the lock: the payload may hold stored messages another thread could change.
            if isinstance(payload, str):
                response = web.Response(text=payload, status=status, headers=headers, content_type="text/plain")
            else:
                response = web.Response(text=json.dumps(payload), status=status, headers=headers,
                                        content_type="application/json")
            call.status = status
            if status == 429:
                self.rejected_429 += 1
            self._answered.notify_all()
        return response

    def _fault_answer(self, call: SlackCall, fault: _Fault) -> web.Response:
        if fault.status is None:
            return self._answer(call, {"ok": False, "error": fault.error})
        error = fault.error or ("ratelimited" if fault.status == 429 else "internal_error")
        return self._answer(call, {"ok": False, "error": error}, status=fault.status, retry_after=fault.retry_after)

    def _queue_fault(self, method: str, fault: _Fault) -> None:
        with self._lock:
            self._faults.setdefault(method, deque()).append(fault)

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            queue = self._faults.get(method)
            if not queue:
                return self._chaos_fault(method)
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.popleft()
            return fault

    def _chaos_fault(self, method: str) -> _Fault | None:
        if not self._chaos_rate or method not in self._chaos_methods:
            return None
        r = self._chaos_random.random()
        if r >= self._chaos_rate:
            return None
        kind = ("429", "500_before", "500_after")[min(2, int(3 * r / self._chaos_rate))]
        self.chaos_counts[kind] += 1
        if kind == "429":
            return _Fault(429, 1, 0.0, None, False, 1)
        return _Fault(500, None, 0.0, None, kind == "500_after", 1)

    async def _pause(self, seconds: float) -> None:
        assert self._closing is not None
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except TimeoutError:
            pass

    def _over_channel_rate(self, call: SlackCall) -> bool:
        """Slack's posting rule: about one chat.postMessage per second per channel."""
        if not self.enforce_channel_rate or call.method != "chat.postMessage":
            return False
        now = time.monotonic()
        with self._lock:
            try:
                channel = self._resolve_channel(call.body.get("channel"), allow_user=True)
            except _ApiError:
                return False  # let the method itself answer channel_not_found
            last = self._last_post.get(channel)
            if last is not None and now - last < 1.0:
                return True
            self._last_post[channel] = now
            return False

    # ---- workspace state (called with the lock held) --------------------------------------

    def _next_ts(self) -> str:
        """A message timestamp: the current time in microseconds, strictly increasing."""
        self._last_ts_us = max(time.time_ns() // 1000, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _new_id(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}0CX{self._serial:05d}"

    def _resolve_channel(self, value: Any, *, allow_user: bool = False) -> str:
        """The channel id a `channel` argument names, as Slack resolves it."""
        name = str(value or "")
        if name.startswith("#"):
            found = [cid for cid, cname in self._channels.items() if cname == name[1:]]
            if not found:
                raise _ApiError("channel_not_found")
            return found[0]
        if allow_user and _USER_ID.fullmatch(name):
            return self._open_conversation([name])[0]  # Slack posts to a user id in the app's DM
        if name in self._conversations.values():
            return name
        known = name in self._channels if self._channels else bool(_CHANNEL_ID.fullmatch(name))
        if not known:
            raise _ApiError("channel_not_found")
        return name

    def _open_conversation(self, users: list[str]) -> tuple[str, bool]:
        key = ",".join(sorted(set(users)))
        if key in self._conversations:
            return self._conversations[key], True
        self._conversations[key] = self._new_id("D" if len(set(users)) == 1 else "G")
        return self._conversations[key], False

    def _find_message(self, channel: str, ts: Any) -> dict[str, Any]:
        message = self._messages.get(channel, {}).get(str(ts or ""))
        if message is None:
            raise _ApiError("message_not_found")
        return message

    def _store_message(self, channel: str, message: dict[str, Any], body: dict[str, Any]) -> None:
        store = self._messages.setdefault(channel, {})
        thread_ts = body.get("thread_ts")
        parent = store.get(str(thread_ts)) if thread_ts else None
        # A thread_ts that matches nothing: Slack posts the message to the channel, so do we.
        if parent is not None:
            root = store[parent.get("thread_ts", parent["ts"])]
            message["thread_ts"] = root["ts"]
            if _truthy(body.get("reply_broadcast")):
                message["subtype"] = "thread_broadcast"
            root.update(thread_ts=root["ts"], reply_count=root.get("reply_count", 0) + 1,
                        latest_reply=message["ts"], reply_users=[BOT_USER_ID], reply_users_count=1)
        store[message["ts"]] = message

    def _bot_message(self, body: dict[str, Any], ts: str) -> dict[str, Any]:
        message: dict[str, Any] = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "app_id": APP_ID,
                                   "team": TEAM_ID, "text": body.get("text") or "", "ts": ts}
        for key in ("blocks", "attachments", "metadata"):
            if body.get(key) is not None:
                message[key] = body[key]
        return message

    def _bot_user(self) -> dict[str, Any]:
        return {"id": BOT_USER_ID, "team_id": TEAM_ID, "name": "cxloop", "real_name": "cxloop", "deleted": False,
                "is_bot": True, "is_app_user": False, "tz": "America/Los_Angeles", "tz_offset": -28800,
                "profile": {"real_name": "cxloop", "display_name": "", "bot_id": BOT_ID, "team": TEAM_ID}}

    # ---- Web API methods (called with the lock held) --------------------------------------

    def _auth_test(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.team_url, "team": TEAM_NAME, "user": "cxloop", "team_id": TEAM_ID,
                "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False}

    def _chat_post_message(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(body.get("channel"), allow_user=True)
        _check_content(body)
        message = self._bot_message(body, self._next_ts())
        self._store_message(channel, message, body)
        return {"channel": channel, "ts": message["ts"], "message": message}

    def _chat_update(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(body.get("channel"))
        message = self._find_message(channel, body.get("ts"))
        _check_content(body, require=False)
        for key in ("text", "blocks", "attachments", "metadata"):
            if body.get(key) is not None:  # omitted fields keep their value, as on Slack
                message[key] = body[key]
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {"channel": channel, "ts": message["ts"], "text": message["text"], "message": message}

    def _chat_post_ephemeral(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(body.get("channel"))
        if not body.get("user"):
            raise _ApiError("user_not_in_channel")
        _check_content(body)
        ts = self._next_ts()
        self.ephemerals.append({"channel": channel, "user": body["user"], "ts": ts, "text": body.get("text"),
                                "blocks": body.get("blocks")})
        return {"message_ts": ts}

    def _chat_get_permalink(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(body.get("channel"))
        message = self._find_message(channel, body.get("message_ts"))
        link = f"{self.team_url.rstrip('/')}/archives/{channel}/p{message['ts'].replace('.', '')}"
        if message.get("thread_ts", message["ts"]) != message["ts"]:
            link += f"?thread_ts={message['thread_ts']}&cid={channel}"
        return {"channel": channel, "permalink": link}

    def _conversations_open(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("channel"):
            return {"no_op": True, "already_open": True, "channel": {"id": self._resolve_channel(body["channel"])}}
        users = [u.strip() for u in str(body.get("users") or "").split(",") if u.strip()]
        if not users:
            raise _ApiError("users_list_not_supplied")
        if not all(_USER_ID.fullmatch(u) for u in users):
            raise _ApiError("user_not_found")
        channel_id, already_open = self._open_conversation(users)
        channel: dict[str, Any] = {"id": channel_id}
        if _truthy(body.get("return_im")):
            channel.update(is_im=len(users) == 1, user=users[0], created=int(time.time()))
        return {"no_op": already_open, "already_open": already_open, "channel": channel}

    def _conversations_history(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(body.get("channel"))
        # History shows top-level messages and broadcast replies, newest first.
        shown = [m for m in reversed(self._messages.get(channel, {}).values())
                 if m.get("thread_ts", m["ts"]) == m["ts"] or m.get("subtype") == "thread_broadcast"]
        page, cursor = _page(_between(shown, body), body)
        return {"messages": [_as_read(m, body) for m in page], "has_more": bool(cursor), "pin_count": 0,
                "response_metadata": {"next_cursor": cursor}}

    def _conversations_replies(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(body.get("channel"))
        store = self._messages.get(channel, {})
        parent = store.get(str(body.get("ts") or ""))
        if parent is None:
            raise _ApiError("thread_not_found")
        root_ts = parent.get("thread_ts", parent["ts"])
        thread = [m for m in store.values() if m["ts"] == root_ts or m.get("thread_ts") == root_ts]
        page, cursor = _page(_between(thread, body), body)
        return {"messages": [_as_read(m, body) for m in page], "has_more": bool(cursor),
                "response_metadata": {"next_cursor": cursor}}

    def _users_info(self, body: dict[str, Any]) -> dict[str, Any]:
        user_id = str(body.get("user") or "")
        user = self._bot_user() if user_id == BOT_USER_ID else self._users.get(user_id)
        if user is None:
            raise _ApiError("user_not_found")
        return {"user": user}

    def _users_list(self, body: dict[str, Any]) -> dict[str, Any]:
        page, cursor = _page([*self._users.values(), self._bot_user()], body)
        return {"members": page, "cache_ts": int(time.time()), "response_metadata": {"next_cursor": cursor}}

    def _views_open(self, body: dict[str, Any]) -> dict[str, Any]:
        if not (body.get("trigger_id") or body.get("interactivity_pointer")):
            raise _ApiError("invalid_arguments")
        view = _check_view(body.get("view"), "modal")
        saved = self._save_view(view, self._new_id("V"))
        if body.get("trigger_id"):
            self._view_triggers[str(body["trigger_id"])] = saved["id"]
        return {"view": saved}

    def _views_update(self, body: dict[str, Any]) -> dict[str, Any]:
        view = _check_view(body.get("view"), "modal")
        current = self._views.get(str(body.get("view_id") or ""))
        if current is None and body.get("external_id"):
            current = next((v for v in self._views.values() if v.get("external_id") == body["external_id"]), None)
        if current is None:
            raise _ApiError("not_found")
        if body.get("hash") and body["hash"] != current["hash"]:
            raise _ApiError("hash_conflict")
        return {"view": self._save_view(view, current["id"])}

    def _views_publish(self, body: dict[str, Any]) -> dict[str, Any]:
        user_id = str(body.get("user_id") or "")
        if not _USER_ID.fullmatch(user_id):
            raise _ApiError("invalid_arguments")
        view = _check_view(body.get("view"), "home")
        current = self.home_views.get(user_id)
        if current is not None and body.get("hash") and body["hash"] != current["hash"]:
            raise _ApiError("hash_conflict")
        self.home_views[user_id] = self._save_view(view, current["id"] if current else self._new_id("V"))
        return {"view": self.home_views[user_id]}

    def _save_view(self, view: dict[str, Any], view_id: str) -> dict[str, Any]:
        self._serial += 1
        saved = {"private_metadata": "", "callback_id": "", "external_id": "", "state": {"values": {}},
                 "clear_on_close": False, "notify_on_close": False, "previous_view_id": None, **view,
                 "id": view_id, "team_id": TEAM_ID, "app_id": APP_ID, "bot_id": BOT_ID, "root_view_id": view_id,
                 "hash": f"{int(time.time())}.{self._serial:08x}"}
        self._views[view_id] = saved
        return saved

    def _files_get_upload_url(self, body: dict[str, Any]) -> dict[str, Any]:
        filename = body.get("filename")
        try:
            length = int(body["length"])
        except (KeyError, TypeError, ValueError):
            raise _ApiError("invalid_arguments") from None
        if not filename:
            raise _ApiError("invalid_arguments")
        file_id = self._new_id("F")
        self.files[file_id] = {"id": file_id, "name": filename, "title": filename, "length": length,
                               "alt_txt": body.get("alt_txt"), "content": None, "channels": []}
        return {"upload_url": f"{self.url}/upload/v1/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, body: dict[str, Any]) -> dict[str, Any]:
        entries = body.get("files")
        if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
            raise _ApiError("invalid_arguments")
        # A file whose bytes never reached its upload URL does not exist yet.
        files = [self.files.get(str(e.get("id"))) for e in entries]
        if any(f is None or f["content"] is None for f in files):
            raise _ApiError("file_not_found")
        named = [body.get("channel_id"), *str(body.get("channels") or "").split(",")]
        targets = [self._resolve_channel(c, allow_user=True) for c in named if c]
        infos = []
        for entry, file in zip(entries, files, strict=True):
            assert file is not None
            file.update(title=entry.get("title") or file["title"], channels=targets)
            infos.append(self._file_info(file))
        for channel in targets:  # sharing posts a message carrying the files
            message = {**self._bot_message({"text": body.get("initial_comment")}, self._next_ts()),
                       "files": infos, "upload": True}
            self._store_message(channel, message, body)
        return {"files": infos}

    def _file_info(self, file: dict[str, Any]) -> dict[str, Any]:
        name = file["name"]
        return {"id": file["id"], "created": int(time.time()), "name": name, "title": file["title"],
                "mimetype": mimetypes.guess_type(name)[0] or "application/octet-stream",
                "filetype": name.rsplit(".", 1)[-1].lower() if "." in name else "binary",
                "size": len(file["content"]), "user": BOT_USER_ID, "alt_txt": file["alt_txt"],
                "url_private": f"{self.url}/files/{file['id']}/{name}",
                "permalink": f"{self.team_url.rstrip('/')}/files/{BOT_USER_ID}/{file['id']}/{name}",
                "channels": list(file["channels"])}


# ---- request parsing and validation helpers -----------------------------------------------


async def _read_body(request: web.Request) -> dict[str, Any]:
    """The call's arguments, from the query string and a JSON, form or multipart body."""
    # AsyncWebClient sends `params` as a query string, even on POST; WebClient sends a form body.
    body: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        raw = await request.read()
        try:
            parsed = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            raise _ApiError("invalid_json") from None
        if not isinstance(parsed, dict):
            raise _ApiError("invalid_json")
        body.update(parsed)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in (await request.post()).items():
            body[key] = value.file.read() if isinstance(value, web.FileField) else value
    for key in JSON_FIELDS:
        if isinstance(body.get(key), str):
            try:
                body[key] = json.loads(body[key])
            except json.JSONDecodeError:
                pass  # left as sent; the method's own validation rejects it
    return body


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


def _check_content(body: dict[str, Any], *, require: bool = True) -> None:
    """Reject message content the way Slack does."""
    if require and not any(body.get(k) for k in ("text", "blocks", "attachments", "markdown_text")):
        raise _ApiError("no_text")
    text = body.get("text")
    if text is not None and len(str(text)) > MAX_TEXT:
        raise _ApiError("msg_too_long")
    blocks = body.get("blocks")
    if blocks is not None and not (isinstance(blocks, list) and len(blocks) <= MAX_MESSAGE_BLOCKS
                                   and all(isinstance(b, dict) and b.get("type") for b in blocks)):
        raise _ApiError("invalid_blocks")
    metadata = body.get("metadata")
    if metadata is not None and not (isinstance(metadata, dict) and isinstance(metadata.get("event_type"), str)
                                     and isinstance(metadata.get("event_payload"), dict)):
        raise _ApiError("invalid_metadata_format")


def _check_view(view: Any, kind: str) -> dict[str, Any]:
    blocks = view.get("blocks", []) if isinstance(view, dict) else None
    if not isinstance(view, dict) or view.get("type") != kind or not isinstance(blocks, list) \
            or len(blocks) > MAX_VIEW_BLOCKS:
        raise _ApiError("invalid_arguments")
    return view


def _ts(value: Any, error: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise _ApiError(error) from None


def _between(messages: list[dict[str, Any]], body: dict[str, Any]) -> list[dict[str, Any]]:
    """Keep the messages after `oldest` and before `latest` (both ends included when `inclusive`)."""
    oldest = _ts(body.get("oldest") or 0, "invalid_ts_oldest")
    latest = _ts(body["latest"], "invalid_ts_latest") if body.get("latest") else None
    inclusive = _truthy(body.get("inclusive"))

    def keep(ts: Decimal) -> bool:
        after = ts >= oldest if inclusive else ts > oldest
        before = latest is None or (ts <= latest if inclusive else ts < latest)
        return after and before

    return [m for m in messages if keep(Decimal(m["ts"]))]


def _page(items: list[dict[str, Any]], body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """One page of `items` and the cursor of the next one ("" at the end), as Slack paginates."""
    try:
        limit = int(body.get("limit") or 100)  # Slack treats 0 as "the default"
        start = int(base64.b64decode(body["cursor"]).decode().removeprefix("offset:")) if body.get("cursor") else 0
    except ValueError:
        raise _ApiError("invalid_cursor") from None
    end = start + max(limit, 1)
    cursor = base64.b64encode(f"offset:{end}".encode()).decode() if end < len(items) else ""
    return items[start:end], cursor


def _as_read(message: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """A stored message as a read method returns it: metadata only when asked for."""
    shown = dict(message)
    if not _truthy(body.get("include_all_metadata")):
        shown.pop("metadata", None)
    return shown
