"""The Bot Connector REST API v3 and the token service, as the stand-in answers the bot's calls.

A mixin of BotConnectorStandIn (standins/bot_connector.py), which holds the state and the lock.
"""


from __future__ import annotations

import json
import time
import uuid
from collections import deque
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

import jwt
from aiohttp import web

from standins.teams_cards import adaptive_card_problems
from standins.teams_tenant import (
    BOT_SCOPE,
    CARD,
    CHANNEL_ISSUER,
    KEY_ID,
    MAX_ACTIVITY_BYTES,
    RATE_PER_SECOND,
    ConnectorCall,
    Conversation,
    TeamsUser,
)


class ConnectorApi:
    """What the bot calls: activities, conversations, members, channels; keys and tokens."""

    def _record(self, op: str, request: web.Request, body: Any) -> ConnectorCall:
        call = ConnectorCall(op=op, method=request.method, path=request.path, body=body,
                             headers=dict(request.headers), at=time.time())
        with self._lock:
            self._calls.append(call)
        return call

    def _answer(self, call: ConnectorCall, payload: Any, status: int = 200,
                retry_after: int | None = None) -> web.Response:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        with self._answered:
            call.status = status
            if status >= 400:
                self.rejected.append((status, json.dumps(payload)[:300]))
            self._answered.notify_all()
        return web.json_response(payload, status=status, headers=headers)

    @staticmethod
    def _error(code: str, message: str) -> dict[str, Any]:
        return {"error": {"code": code, "message": message}}

    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return {"_unreadable": raw[:200].decode("utf-8", "replace"), "_size": len(raw)}

    async def _api(self, request: web.Request, op: str, work) -> web.Response:  # type: ignore[no-untyped-def]
        body = await self._body(request)
        call = self._record(op, request, body)
        why = self._bot_token_ok(dict(request.headers))
        if why:
            return self._answer(call, self._error("Unauthorized", why), 401)
        fault = self._take_fault(op)
        if fault is not None and not fault.after_processing:
            return self._answer(call, self._error(fault.code or _code(fault.status), "injected"), fault.status,
                                fault.retry_after)
        try:
            with self._lock:
                status, payload = work(body, request)
        except _ApiError as exc:
            return self._answer(call, self._error(exc.code, exc.message), exc.status, exc.retry_after)
        if fault is not None:
            return self._answer(call, self._error(fault.code or _code(fault.status), "injected after the work"),
                                fault.status, fault.retry_after)
        return self._answer(call, payload, status)

    def _conv(self, request: web.Request) -> tuple[Conversation, str | None]:
        raw = unquote(request.match_info["cid"])
        base, _, thread = raw.partition(";messageid=")
        conv = self._conversations.get(base)
        if conv is None:
            raise _ApiError(404, "ConversationNotFound", f"no conversation {base}")
        if not conv.bot_present:
            raise _ApiError(403, "BotNotInConversationRoster", "the bot is not part of the conversation roster")
        return conv, thread or None

    def _new_id(self) -> str:
        self._last_id = max(time.time_ns() // 1_000_000, self._last_id + 1)
        return str(self._last_id)

    def _check_activity(self, body: Any, raw_size: int) -> None:
        if not isinstance(body, dict) or body.get("_unreadable"):
            raise _ApiError(400, "BadSyntax", "the body is not an activity")
        if raw_size > MAX_ACTIVITY_BYTES:
            raise _ApiError(413, "MessageSizeTooBig", f"the activity is {raw_size:,} bytes; the limit is 28 KB")
        if self.check_cards:
            for a in body.get("attachments") or []:
                if a.get("contentType") == CARD:
                    problems = adaptive_card_problems(a.get("content"))
                    if problems:
                        raise _ApiError(400, "BadSyntax", "; ".join(problems)[:1000])

    def _rate(self, conv_id: str) -> None:
        if not self.enforce_rate:
            return
        now = time.monotonic()
        window = self._sent_at.setdefault(conv_id, deque())
        while window and now - window[0] > 1.0:
            window.popleft()
        if len(window) >= RATE_PER_SECOND:
            raise _ApiError(429, "ThrottledTooManyRequests", "more than 7 messages a second", retry_after=1)
        window.append(now)

    def _store(self, conv: Conversation, body: dict[str, Any], thread: str | None) -> dict[str, Any]:
        root = None
        if thread is not None:
            if conv.kind != "channel" or thread not in conv.activities:
                raise _ApiError(404, "NotFound", f"no message {thread} to reply to")
            parent = conv.activities[thread]
            root = parent.get("threadRoot") or parent["id"]
        stored = dict(body)
        stored.update(id=self._new_id(), timestamp=datetime.now(timezone.utc).isoformat(), threadRoot=root,
                      conversationId=conv.id + (f";messageid={root}" if root else ""), versions=0)
        stored.setdefault("from", {"id": self.bot_id, "name": self.bot_name})
        conv.activities[stored["id"]] = stored
        return stored

    async def _send(self, request: web.Request) -> web.Response:
        size = request.content_length or 0

        def work(body: Any, req: web.Request) -> tuple[int, Any]:
            conv, thread = self._conv(req)
            self._check_activity(body, size)
            self._rate(conv.id)
            stored = self._store(conv, body, thread)
            return 201, {"id": stored["id"]}

        return await self._api(request, "send", work)

    async def _reply(self, request: web.Request) -> web.Response:
        size = request.content_length or 0

        def work(body: Any, req: web.Request) -> tuple[int, Any]:
            conv, thread = self._conv(req)
            self._check_activity(body, size)
            self._rate(conv.id)
            target = unquote(req.match_info["aid"])
            # Teams threads a reply under a known channel message; an unknown id is a plain post.
            if conv.kind == "channel" and thread is None and target in conv.activities:
                thread = target
            stored = self._store(conv, body, thread)
            return 201, {"id": stored["id"]}

        return await self._api(request, "send", work)

    async def _update(self, request: web.Request) -> web.Response:
        size = request.content_length or 0

        def work(body: Any, req: web.Request) -> tuple[int, Any]:
            conv, _ = self._conv(req)
            self._check_activity(body, size)
            self._rate(conv.id)
            aid = unquote(req.match_info["aid"])
            old = conv.activities.get(aid)
            if old is None:
                raise _ApiError(404, "ActivityNotFoundInConversation", f"no activity {aid}")
            if (old.get("from") or {}).get("id") != self.bot_id:
                raise _ApiError(403, "Forbidden", "a bot can only edit its own messages")
            keep = {k: old[k] for k in ("id", "timestamp", "threadRoot", "conversationId", "from")}
            conv.activities[aid] = {**body, **keep, "versions": old.get("versions", 0) + 1}
            return 200, {"id": aid}

        return await self._api(request, "update", work)

    async def _delete(self, request: web.Request) -> web.Response:
        def work(body: Any, req: web.Request) -> tuple[int, Any]:
            conv, _ = self._conv(req)
            if conv.activities.pop(unquote(req.match_info["aid"]), None) is None:
                raise _ApiError(404, "ActivityNotFoundInConversation", "no such activity")
            return 200, {}

        return await self._api(request, "delete", work)

    async def _create_conversation(self, request: web.Request) -> web.Response:
        def work(body: Any, req: web.Request) -> tuple[int, Any]:
            if not isinstance(body, dict) or body.get("isGroup") or len(body.get("members") or []) != 1:
                raise _ApiError(400, "BadSyntax", "only 1:1 conversations can be created")
            tenant = body.get("tenantId") or ((body.get("channelData") or {}).get("tenant") or {}).get("id")
            if tenant != self.tenant_id:
                raise _ApiError(400, "BadArgument", "tenantId is required")
            mid = body["members"][0].get("id", "")
            user = next((u for u in self.users.values() if u.id == mid), None)
            if user is None:
                # Teams wants the user's 29: id here, not the Entra object id.
                raise _ApiError(400, "BadArgument", f"unknown member id {mid!r}")
            existing = self.personal_chat(user.aad)
            if existing is None:
                existing = "a:" + uuid.uuid5(uuid.NAMESPACE_OID, "chat:" + user.aad).hex
                self._conversations[existing] = Conversation(id=existing, kind="personal", members=[user.aad])
            self._conversations[existing].bot_present = True
            return 201, {"id": existing}

        return await self._api(request, "create_conversation", work)

    def _account(self, user: TeamsUser) -> dict[str, Any]:
        return {"id": user.id, "name": user.name, "aadObjectId": user.aad, "email": user.email,
                "userPrincipalName": user.email, "givenName": user.name.split()[0], "tenantId": self.tenant_id,
                "userRole": "user"}

    def _members_of(self, conv: Conversation) -> list[TeamsUser]:
        aads = conv.members
        if conv.team:
            aads = self._conversations[conv.team].members
        return [self.users[a] for a in aads if a in self.users]

    async def _members(self, request: web.Request) -> web.Response:
        def work(body: Any, req: web.Request) -> tuple[int, Any]:
            conv, _ = self._conv(req)
            return 200, [self._account(u) for u in self._members_of(conv)]

        return await self._api(request, "get_members", work)

    async def _paged_members(self, request: web.Request) -> web.Response:
        def work(body: Any, req: web.Request) -> tuple[int, Any]:
            conv, _ = self._conv(req)
            return 200, {"members": [self._account(u) for u in self._members_of(conv)]}

        return await self._api(request, "get_members", work)

    async def _member(self, request: web.Request) -> web.Response:
        def work(body: Any, req: web.Request) -> tuple[int, Any]:
            conv, _ = self._conv(req)
            mid = unquote(req.match_info["mid"])
            # Teams accepts the 29: id, the Entra object id or the UPN.
            for u in self._members_of(conv):
                if mid in (u.id, u.aad, u.email):
                    return 200, self._account(u)
            raise _ApiError(404, "MemberNotFoundInConversation", f"{mid} is not a member")

        return await self._api(request, "get_member", work)

    async def _channels(self, request: web.Request) -> web.Response:
        def work(body: Any, req: web.Request) -> tuple[int, Any]:
            team = self.teams.get(unquote(req.match_info["tid"]))
            if team is None:
                raise _ApiError(404, "NotFound", "no such team")
            return 200, {"conversations": [{"id": cid, "name": name} for cid, name in team["channels"].items()]}

        return await self._api(request, "channels", work)

    async def _team(self, request: web.Request) -> web.Response:
        def work(body: Any, req: web.Request) -> tuple[int, Any]:
            tid = unquote(req.match_info["tid"])
            team = self.teams.get(tid)
            if team is None:
                raise _ApiError(404, "NotFound", "no such team")
            return 200, {"id": tid, "name": team["name"], "aadGroupId": str(uuid.uuid5(uuid.NAMESPACE_OID, tid)),
                         "channelCount": len(team["channels"]), "memberCount": len(self._conversations[tid].members)}

        return await self._api(request, "team", work)

    # ---- HTTP: keys and tokens -------------------------------------------------------------

    async def _openid(self, request: web.Request) -> web.Response:
        call = self._record("openid", request, None)
        return self._answer(call, {"issuer": CHANNEL_ISSUER, "authorization_endpoint": f"{self.url}/authorize",
                                   "jwks_uri": f"{self.url}/v1/.well-known/keys",
                                   "id_token_signing_alg_values_supported": ["RS256"],
                                   "token_endpoint_auth_methods_supported": ["private_key_jwt"]})

    async def _jwks(self, request: web.Request) -> web.Response:
        call = self._record("keys", request, None)
        return self._answer(call, {"keys": [self._jwk()]})

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        call = self._record("token", request, {k: v for k, v in form.items() if k != "client_secret"})
        fault = self._take_fault("token")
        if fault is not None:
            return self._answer(call, {"error": "temporarily_unavailable"}, fault.status, fault.retry_after)
        if form.get("grant_type") != "client_credentials":
            return self._answer(call, {"error": "unsupported_grant_type"}, 400)
        if not self.app_id or form.get("client_id") != self.app_id or form.get("client_secret") != self.app_password:
            return self._answer(call, {"error": "invalid_client", "error_description": "AADSTS7000215"}, 401)
        now = int(time.time())
        token = jwt.encode({"iss": f"https://sts.windows.net/{self.tenant_id}/", "aud": BOT_SCOPE,
                            "appid": self.app_id, "ver": "1.0", "tid": self.tenant_id, "iat": now, "nbf": now,
                            "exp": now + 3600}, self._signing, algorithm="RS256", headers={"kid": KEY_ID})
        return self._answer(call, {"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
                                   "access_token": token})


class _ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


def _code(status: int) -> str:
    return {429: "ThrottledTooManyRequests", 412: "PreconditionFailed", 403: "BotNotInConversationRoster",
            404: "ConversationNotFound", 502: "BadGateway", 504: "GatewayTimeout", 500: "InternalServerError",
            503: "ServiceUnavailable", 413: "MessageSizeTooBig"}.get(status, "Error")
