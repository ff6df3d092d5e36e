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
import copy
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from standins.local_server import LocalServer
from standins.slack_workspace import (
    SCOPES,
    TEAM_ID,
    ApiError,
    SlackWorkspace,
    read_body,
)


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
    hang_up: bool = False  # after processing: close the connection instead of answering


class _HangUp(Exception):
    """The call was carried out; its connection is to be closed with no answer."""


class SlackStandIn(LocalServer, SlackWorkspace):
    """An in-memory Slack workspace behind Slack's Web API, on 127.0.0.1 and a free port."""

    label = "Slack stand-in"
    max_body = 64 * 1024 * 1024

    def __init__(self, *, token: str = "xoxb-test", enforce_channel_rate: bool = False,
                 team_url: str = "https://cxloop-demo.slack.com/") -> None:
        super().__init__()
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
    def api_url(self) -> str:
        """The Web API base URL to give slack_sdk clients as `base_url`."""
        return f"{self.url}/api/"

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_route("*", "/api/{method}", self._handle_api)
        router.add_post("/upload/v1/{file_id}", self._handle_upload)
        router.add_post("/response/{token}", self._handle_response_url)

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

    def fail_after_processing(self, method: str, *, status: int = 500, times: int = 1, hang_up: bool = False) -> None:
        """Do the work of the next `times` calls of `method`, then answer `status` as if it had failed;
        with `hang_up`, close the connection instead of answering (a connection dropped just then)."""
        self._queue_fault(method, _Fault(status, 1 if status == 429 else None, 0.0, None, True, times, hang_up))

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
            body = await read_body(request)
        except ApiError as exc:
            return self._answer(self._record(method, {}, request), {"ok": False, "error": exc.code})
        call = self._record(method, body, request)
        handler = self._methods.get(method)
        if handler is None:
            return self._answer(call, {"ok": False, "error": "unknown_method"})
        token = call.token
        if token != self.token:
            return self._answer(call, {"ok": False, "error": "invalid_auth" if token else "not_authed"})
        try:
            return await self._serve(call, lambda: handler(body))
        except _HangUp:
            if request.transport is not None:
                request.transport.close()
            raise ConnectionResetError("the stand-in hung up") from None

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
            except ApiError as exc:
                payload = {"ok": False, "error": exc.code}
            if fault is not None and fault.after_processing:
                if fault.hang_up:
                    raise _HangUp()
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
        assert self.closing is not None
        try:
            await asyncio.wait_for(self.closing.wait(), seconds)
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
            except ApiError:
                return False  # let the method itself answer channel_not_found
            last = self._last_post.get(channel)
            if last is not None and now - last < 1.0:
                return True
            self._last_post[channel] = now
            return False
