"""A local stand-in of Microsoft Teams behind the Bot Framework, for tests.

It plays both sides of the wire, on 127.0.0.1 and a free port:

- what the bot calls: the Bot Connector REST API v3 under the service URL (send, reply, update and
  delete activities; create a 1:1 conversation; read members and a team's channels), the token
  service the bot gets its own tokens from, and the OpenID metadata and signing keys (JWKS) the
  bot checks inbound tokens against;
- what Teams sends: activities (installs, `cx` messages, dialog invokes from card buttons) POSTed
  to the bot's /api/messages with a Bot Framework token signed by the stand-in's RSA key.

It keeps teams, channels, chats and every activity in memory, records every call, checks cards the
way Teams would refuse them (size, version, mentions, inputs), and injects the failures delivery
has to survive: 429 with Retry-After, 412, 502, 504, 403/404, work done but answered with an error.

Run it with ``with BotConnectorStandIn.in_thread(app_id=...) as teams:``. It needs its own thread:
botbuilder fetches signing keys and tokens with blocking `requests` calls from the event loop, so
a stand-in on that same loop could never answer them.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

import aiohttp
import jwt
import requests
from aiohttp import web
from botframework.connector.auth import (
    AppCredentials, MicrosoftAppCredentials, ServiceClientCredentialsFactory,
)
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

TENANT_ID = "5f1c0e2a-7d3b-4c8e-9a61-0c0ffee0c0de"
CHANNEL_ISSUER = "https://api.botframework.com"  # the issuer of tokens the Bot Framework sends to bots
BOT_SCOPE = "https://api.botframework.com"  # the audience of tokens bots send to the connector
SERVICE_PATH = "/amer"  # Teams service URLs carry a region path: https://smba.trafficmanager.net/amer/
KEY_ID = "cxloop-stand-in-1"
MAX_ACTIVITY_BYTES = 28 * 1024
RATE_PER_SECOND = 7
CARD = "application/vnd.microsoft.card.adaptive"

_KEYS: dict[str, rsa.RSAPrivateKey] = {}
_KEYS_LOCK = threading.Lock()


def _key(name: str) -> rsa.RSAPrivateKey:
    """An RSA key per name, made once per process (making one takes a moment)."""
    with _KEYS_LOCK:
        if name not in _KEYS:
            _KEYS[name] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return _KEYS[name]


class ClientValidationError(AssertionError):
    """Teams would not send this submit: a required input is empty, or an input is not on the card."""


@dataclass
class TeamsUser:
    """A person in the tenant: Entra object id, Teams (`29:`) id, name."""

    aad: str
    id: str
    name: str
    email: str
    tz: str = "Europe/London"

    def account(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "aadObjectId": self.aad}


@dataclass
class ConnectorCall:
    """One request the stand-in received (from the bot, or a token/key fetch)."""

    op: str
    method: str
    path: str
    body: Any
    headers: dict[str, str]
    at: float
    status: int | None = None


@dataclass
class _Fault:
    status: int
    retry_after: int | None
    code: str | None
    after_processing: bool
    remaining: int


@dataclass
class _Conversation:
    id: str
    kind: str  # channel, personal, groupChat
    team: str | None = None
    name: str | None = None
    members: list[str] = field(default_factory=list)  # aad ids
    bot_present: bool = True
    activities: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> activity, in order


def adaptive_card_problems(card: Any) -> list[str]:
    """What Teams would refuse or mis-render in an Adaptive Card sent by a bot."""
    problems: list[str] = []
    if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
        return ["the attachment is not an AdaptiveCard"]
    version = str(card.get("version", ""))
    if not re.fullmatch(r"1\.[0-5]", version):
        problems.append(f"version {version!r}: Teams renders bot cards up to Adaptive Cards 1.5")
    known = {"TextBlock", "RichTextBlock", "ColumnSet", "Container", "ActionSet", "Image", "FactSet", "ImageSet",
             "Input.Text", "Input.ChoiceSet", "Input.Toggle", "Input.Date", "Input.Time", "Input.Number"}
    actions = {"Action.Submit", "Action.OpenUrl", "Action.ShowCard", "Action.ToggleVisibility", "Action.Execute"}
    ids: set[str] = set()
    texts: list[str] = []

    def action(a: Any, where: str) -> None:
        if not isinstance(a, dict) or a.get("type") not in actions:
            problems.append(f"{where}: unknown action {a!r:.80}")
            return
        if a["type"] != "Action.OpenUrl" and not a.get("title"):
            problems.append(f"{where}: an action without a title")
        if a["type"] == "Action.OpenUrl" and not re.match(r"^https?://", str(a.get("url", ""))):
            problems.append(f"{where}: OpenUrl to {a.get('url')!r}")

    def walk(node: Any, where: str) -> None:
        if isinstance(node, list):
            for n, item in enumerate(node):
                walk(item, f"{where}[{n}]")
            return
        if not isinstance(node, dict):
            problems.append(f"{where}: not an element")
            return
        t = node.get("type")
        if t == "TextRun":
            if not isinstance(node.get("text"), str):
                problems.append(f"{where}: a TextRun without text")
            if "selectAction" in node:
                action(node["selectAction"], f"{where}.selectAction")
            return
        if t == "Column":
            walk(node.get("items", []), f"{where}.items")
            return
        if t not in known:
            problems.append(f"{where}: unknown element type {t!r}")
            return
        if t.startswith("Input."):
            iid = node.get("id")
            if not iid:
                problems.append(f"{where}: an input without an id")
            elif iid in ids:
                problems.append(f"{where}: input id {iid!r} twice")
            ids.add(str(iid))
        if t == "TextBlock":
            if not isinstance(node.get("text"), str):
                problems.append(f"{where}: a TextBlock without text")
            texts.append(str(node.get("text", "")))
        if t == "RichTextBlock":
            walk(node.get("inlines", []), f"{where}.inlines")
        if t == "ColumnSet":
            walk(node.get("columns", []), f"{where}.columns")
        if t == "Container":
            walk(node.get("items", []), f"{where}.items")
        if t == "ActionSet":
            for n, a in enumerate(node.get("actions", [])):
                action(a, f"{where}.actions[{n}]")
        if t == "Image" and not str(node.get("url", "")).startswith(("https://", "data:image/")):
            problems.append(f"{where}: image URL {str(node.get('url'))[:60]!r}")

    walk(card.get("body", []), "body")
    for n, a in enumerate(card.get("actions") or []):
        action(a, f"actions[{n}]")
    entities = (card.get("msteams") or {}).get("entities") or []
    for e in entities:
        if e.get("type") == "mention" and not any(str(e.get("text", "\0")) in t for t in texts):
            problems.append(f"mention entity {e.get('text')!r} is in no TextBlock")
    for t in texts:
        for tag in re.findall(r"<at>.*?</at>", t, flags=re.DOTALL):
            if not any(e.get("text") == tag for e in entities):
                problems.append(f"{tag!r} has no mention entity")
    return problems


def card_of(activity: dict[str, Any]) -> dict[str, Any] | None:
    """The Adaptive Card an activity carries, if any."""
    for a in activity.get("attachments") or []:
        if a.get("contentType") == CARD:
            return a.get("content")
    return None


def card_text(card: Any) -> str:
    """Every word a person would read on a card (texts, titles, labels, choices), as one string."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k in ("text", "title", "label", "placeholder", "altText", "value"):
                if isinstance(node.get(k), str) and not (k == "value" and node.get("type") is None):
                    out.append(node[k])
            for k, v in node.items():
                if k not in ("data", "msteams"):
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(card)
    return "\n".join(out)


def text_of(activity: dict[str, Any]) -> str:
    """What a person reads in an activity: its text and its card."""
    return (activity.get("text") or "") + "\n" + card_text(card_of(activity) or {})


def find_actions(card: Any) -> list[dict[str, Any]]:
    """Every Action.Submit on a card, in order (ActionSets in the body, then the card's actions)."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.Submit":
                found.append(node)
            for k, v in node.items():
                if k != "data":
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(card)
    return found


def find_inputs(card: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if str(node.get("type", "")).startswith("Input."):
                found.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(card)
    return found


class _StandInCredentials(AppCredentials):
    """The bot's outbound token, from the stand-in's token service (what MSAL does against Entra ID)."""

    def __init__(self, app_id: str, password: str, token_url: str, scope: str):
        super().__init__(app_id=app_id, oauth_scope=scope)
        self.password = password
        self.token_url = token_url
        self._token: str | None = None
        self._expires = 0.0

    def get_access_token(self, force_refresh: bool = False) -> str:
        if self._token and not force_refresh and time.time() < self._expires - 60:
            return self._token
        scope = self.oauth_scope if self.oauth_scope.endswith("/.default") else self.oauth_scope + "/.default"
        r = requests.post(self.token_url, data={"grant_type": "client_credentials", "client_id": self.microsoft_app_id,
                                                "client_secret": self.password, "scope": scope}, timeout=10)
        if r.status_code != 200:
            raise PermissionError(f"Failed to get access token: {r.status_code} {r.text[:200]}")
        body = r.json()
        self._token, self._expires = body["access_token"], time.time() + float(body.get("expires_in", 3600))
        return self._token


class StandInCredentialsFactory(ServiceClientCredentialsFactory):
    """botbuilder's credentials factory pointed at the stand-in's token service.

    MSAL, which botbuilder uses for real, insists on an https authority and asks
    login.microsoftonline.com to validate it, so it cannot be pointed at a local stand-in.
    """

    def __init__(self, app_id: str | None, password: str | None, token_url: str):
        self.app_id = app_id
        self.password = password or ""
        self.token_url = token_url

    async def is_valid_app_id(self, app_id: str) -> bool:
        return app_id == self.app_id

    async def is_authentication_disabled(self) -> bool:
        return not self.app_id

    async def create_credentials(self, app_id: str, oauth_scope: str, login_endpoint: str,
                                 validate_authority: bool):  # type: ignore[no-untyped-def]
        if not self.app_id:
            return MicrosoftAppCredentials.empty()
        if app_id != self.app_id:
            raise PermissionError("Invalid app_id")
        return _StandInCredentials(app_id, self.password, self.token_url, oauth_scope or BOT_SCOPE)


class BotConnectorStandIn:
    """Teams, its Bot Connector and its token service, in memory on 127.0.0.1."""

    def __init__(self, *, app_id: str | None = None, app_password: str | None = None, bot_name: str = "cxloop",
                 enforce_rate: bool = False, check_cards: bool = True) -> None:
        self.app_id = app_id
        self.app_password = app_password
        self.bot_name = bot_name
        self.bot_id = f"28:{app_id or 'cxloop-local-bot'}"
        # Awaited after each activity posted to the bot (a harness waits there for work done after the 200).
        self.after_post: Callable[[], Awaitable[None]] | None = None
        self.enforce_rate = enforce_rate
        self.check_cards = check_cards
        self.tenant_id = TENANT_ID
        self.users: dict[str, TeamsUser] = {}  # aad -> user
        self.teams: dict[str, dict[str, Any]] = {}  # team id -> {"name", "channels": {id: name}}
        self.rejected: list[tuple[int, str]] = []  # (status, reason) of every refused bot call
        self.to_bot: list[dict[str, Any]] = []  # every activity POSTed to the bot, with its answer
        self._lock = threading.RLock()
        self._answered = threading.Condition(self._lock)
        self._calls: list[ConnectorCall] = []
        self._faults: dict[str, deque[_Fault]] = {}
        self._conversations: dict[str, _Conversation] = {}
        self._sent_at: dict[str, deque[float]] = {}
        self._last_id = 0
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._signing = _key("bot-framework")

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("the Bot Connector stand-in is not running")
        return f"http://127.0.0.1:{self._port}"

    @property
    def service_url(self) -> str:
        """The serviceUrl Teams puts on activities: the Bot Connector's base URL."""
        return f"{self.url}{SERVICE_PATH}/"

    @property
    def openid_metadata_url(self) -> str:
        return f"{self.url}/v1/.well-known/openidconfiguration"

    @property
    def token_url(self) -> str:
        return f"{self.url}/botframework.com/oauth2/v2.0/token"

    def bot_auth(self) -> dict[str, Any]:
        """botbuilder's token settings for this stand-in (the fields of handlers.teams.adapter.TeamsAuth)."""
        return {"openid_metadata_url": self.openid_metadata_url, "token_issuer": CHANNEL_ISSUER,
                "login_url": self.token_url, "oauth_scope": BOT_SCOPE, "oauth_url": self.url,
                "emulator_openid_metadata_url": self.openid_metadata_url,
                "credentials_factory": StandInCredentialsFactory(self.app_id, self.app_password, self.token_url)}

    async def start(self) -> None:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        r = app.router
        base = SERVICE_PATH + "/v3"
        r.add_post(base + "/conversations", self._create_conversation)
        r.add_post(base + "/conversations/{cid}/activities", self._send)
        r.add_post(base + "/conversations/{cid}/activities/{aid}", self._reply)
        r.add_put(base + "/conversations/{cid}/activities/{aid}", self._update)
        r.add_delete(base + "/conversations/{cid}/activities/{aid}", self._delete)
        r.add_get(base + "/conversations/{cid}/members", self._members)
        r.add_get(base + "/conversations/{cid}/pagedmembers", self._paged_members)
        r.add_get(base + "/conversations/{cid}/members/{mid}", self._member)
        r.add_get(base + "/teams/{tid}/conversations", self._channels)
        r.add_get(base + "/teams/{tid}", self._team)
        r.add_get("/v1/.well-known/openidconfiguration", self._openid)
        r.add_get("/v1/.well-known/keys", self._jwks)
        r.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @classmethod
    @contextmanager
    def in_thread(cls, **options: Any) -> Iterator[BotConnectorStandIn]:
        """Run the stand-in on its own event loop in a background thread."""
        stand_in = cls(**options)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="bot-connector-stand-in", daemon=True)
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

    # ---- the tenant: people, teams, chats --------------------------------------------------

    def add_user(self, aad: str, name: str, *, email: str | None = None, tz: str = "Europe/London") -> TeamsUser:
        user = TeamsUser(aad=aad, id=f"29:1{uuid.uuid5(uuid.NAMESPACE_OID, aad).hex}", name=name,
                         email=email or f"{'.'.join(name.lower().split())}@example.com", tz=tz)
        with self._lock:
            self.users[aad] = user
        return user

    def add_team(self, team_id: str, name: str, *, channels: dict[str, str] | None = None,
                 members: list[str] | None = None) -> None:
        """A team; its id is its General channel's id. `channels`: other channels {id: name}."""
        with self._lock:
            self.teams[team_id] = {"name": name, "channels": {team_id: None, **(channels or {})}}
            for cid, cname in self.teams[team_id]["channels"].items():
                self._conversations.setdefault(cid, _Conversation(id=cid, kind="channel", team=team_id, name=cname,
                                                                  members=list(members or []), bot_present=False))

    def add_group_chat(self, chat_id: str, members: list[str]) -> None:
        with self._lock:
            self._conversations[chat_id] = _Conversation(id=chat_id, kind="groupChat", members=list(members),
                                                         bot_present=False)

    def remove_bot(self, conversation_id: str) -> None:
        """cxloop was removed: the connector answers 403 for that conversation from now on."""
        with self._lock:
            self._conversations[conversation_id].bot_present = False

    def personal_chat(self, aad: str) -> str | None:
        with self._lock:
            for c in self._conversations.values():
                if c.kind == "personal" and c.members == [aad]:
                    return c.id
        return None

    # ---- faults ----------------------------------------------------------------------------

    def fail_next(self, op: str, *, status: int = 500, retry_after: int | None = None, code: str | None = None,
                  times: int = 1, after_processing: bool = False) -> None:
        """Make the next `times` calls of `op` (send, update, create_conversation, get_member, channels, token)
        answer `status`; with `after_processing`, do the work first (the caller cannot know it was done)."""
        if status == 429 and retry_after is None:
            retry_after = 1
        with self._lock:
            self._faults.setdefault(op, deque()).append(_Fault(status, retry_after, code, after_processing, times))

    def _take_fault(self, op: str) -> _Fault | None:
        with self._lock:
            queue = self._faults.get(op)
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.popleft()
            return fault

    # ---- inspection ------------------------------------------------------------------------

    @property
    def calls(self) -> list[ConnectorCall]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, op: str) -> list[ConnectorCall]:
        with self._lock:
            return [c for c in self._calls if c.op == op]

    def activities(self, conversation_id: str) -> list[dict[str, Any]]:
        """Every activity in a conversation (thread replies included), oldest first (copies)."""
        with self._lock:
            conv = self._conversations.get(conversation_id.split(";messageid=")[0])
            return copy.deepcopy(list(conv.activities.values())) if conv else []

    def posts(self, channel_id: str) -> list[dict[str, Any]]:
        """The top-level posts of a channel (the bot's and people's), oldest first."""
        return [a for a in self.activities(channel_id) if not a.get("threadRoot")]

    def thread(self, channel_id: str, root_id: str) -> list[dict[str, Any]]:
        """The replies in the thread under `root_id`, oldest first."""
        return [a for a in self.activities(channel_id) if a.get("threadRoot") == root_id]

    def activity(self, conversation_id: str, activity_id: str) -> dict[str, Any]:
        for a in self.activities(conversation_id):
            if a["id"] == activity_id:
                return a
        raise LookupError(f"no activity {activity_id} in {conversation_id}")

    def wait_for(self, op: str, count: int = 1, timeout: float = 5.0) -> list[ConnectorCall]:
        deadline = time.monotonic() + timeout
        with self._answered:
            while len(done := [c for c in self._calls if c.op == op and c.status is not None]) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(done)} of {count} {op} calls answered after {timeout}s")
                self._answered.wait(remaining)
            return done

    # ---- tokens ----------------------------------------------------------------------------

    def channel_token(self, *, audience: str | None = None, service_url: str | None = None,
                      expires_in: int = 3600, key: rsa.RSAPrivateKey | None = None, kid: str = KEY_ID,
                      issuer: str = CHANNEL_ISSUER) -> str:
        """The token the Bot Framework puts on a request to the bot (signed with the stand-in's key)."""
        now = int(time.time())
        claims = {"iss": issuer, "aud": audience or self.app_id, "serviceurl": service_url or self.service_url,
                  "nbf": now - 5, "iat": now - 5, "exp": now + expires_in}
        return jwt.encode(claims, key or self._signing, algorithm="RS256", headers={"kid": kid})

    def forged_token(self) -> str:
        """A token that looks right but is signed with a key the Bot Framework never published."""
        return self.channel_token(key=_key("someone-else"))

    def _jwk(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self._signing.public_key()))
        # As Microsoft's published keys do, the key endorses Web Chat and Direct Line too: a token alone
        # never proves that an activity came from Teams.
        return {**jwk, "kid": KEY_ID, "use": "sig", "alg": "RS256",
                "endorsements": ["msteams", "webchat", "directline", "emulator"]}

    def _bot_token_ok(self, headers: dict[str, str]) -> str | None:
        """None when the bot's Authorization header is good (or auth is off); else why not."""
        if not self.app_id:
            return None
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        if not auth.startswith("Bearer "):
            return "no bearer token"
        try:
            claims = jwt.decode(auth[7:], self._signing.public_key(), algorithms=["RS256"], audience=BOT_SCOPE)
        except jwt.PyJWTError as exc:
            return f"bad token: {exc}"
        if claims.get("appid") != self.app_id:
            return "token for another app"
        return None

    # ---- HTTP: what the bot calls ----------------------------------------------------------

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

    def _conv(self, request: web.Request) -> tuple[_Conversation, str | None]:
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

    def _store(self, conv: _Conversation, body: dict[str, Any], thread: str | None) -> dict[str, Any]:
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
                self._conversations[existing] = _Conversation(id=existing, kind="personal", members=[user.aad])
            self._conversations[existing].bot_present = True
            return 201, {"id": existing}

        return await self._api(request, "create_conversation", work)

    def _account(self, user: TeamsUser) -> dict[str, Any]:
        return {"id": user.id, "name": user.name, "aadObjectId": user.aad, "email": user.email,
                "userPrincipalName": user.email, "givenName": user.name.split()[0], "tenantId": self.tenant_id,
                "userRole": "user"}

    def _members_of(self, conv: _Conversation) -> list[TeamsUser]:
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

    # ---- the Teams side: activities to the bot ---------------------------------------------

    def envelope(self, user: TeamsUser | None, conversation_id: str, **fields: Any) -> dict[str, Any]:
        """An activity from `user` in a conversation, addressed and dressed as Teams sends it."""
        with self._lock:
            conv = self._conversations[conversation_id.split(";messageid=")[0]]
        now = datetime.now(timezone.utc)
        data: dict[str, Any] = {"tenant": {"id": self.tenant_id}}
        event = fields.pop("eventType", None)
        if event:
            data["eventType"] = event
        if conv.team:
            team = self.teams[conv.team]
            data.update(team={"id": conv.team, "name": team["name"],
                              "aadGroupId": str(uuid.uuid5(uuid.NAMESPACE_OID, conv.team))},
                        channel={"id": conv.id, "name": conv.name})
        data.update(fields.pop("channelData", {}))
        activity: dict[str, Any] = {
            "id": fields.pop("id", None) or f"f:{uuid.uuid4().hex}", "timestamp": now.isoformat(),
            "serviceUrl": self.service_url, "channelId": "msteams",
            "from": user.account() if user else {"id": "29:system", "name": ""},
            "conversation": {"id": conversation_id, "conversationType": conv.kind, "tenantId": self.tenant_id,
                             "isGroup": conv.kind != "personal", **({"name": conv.name} if conv.name else {})},
            "recipient": {"id": self.bot_id, "name": self.bot_name},
            "channelData": data, "locale": "en-GB",
        }
        if user:
            activity.update(localTimezone=user.tz, localTimestamp=now.isoformat(),
                            entities=[{"type": "clientInfo", "locale": "en-GB", "timezone": user.tz}])
        activity.update(fields)
        return activity

    async def post(self, bot_url: str, activity: dict[str, Any], *, token: str | None = "valid",
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """POST an activity to the bot as the Bot Framework does; returns (status, JSON body or None)."""
        sent = dict(headers or {})
        if token == "valid":
            if self.app_id:
                sent["Authorization"] = f"Bearer {self.channel_token()}"
        elif token:
            sent["Authorization"] = f"Bearer {token}"
        async with aiohttp.ClientSession() as http:
            async with http.post(bot_url, json=activity, headers=sent) as r:
                text = await r.text()
                try:
                    body = json.loads(text) if text else None
                except ValueError:
                    body = text
                with self._lock:
                    self.to_bot.append({"activity": activity, "status": r.status, "body": body})
        if self.after_post is not None:
            # The bot handles most activities after acknowledging them; a test harness waits here.
            await self.after_post()
        return r.status, body

    async def install_in_team(self, bot_url: str, team_id: str, *, by: str) -> tuple[int, Any]:
        """cxloop added to a team: conversationUpdate (bot in membersAdded), then installationUpdate."""
        with self._lock:
            for cid in self.teams[team_id]["channels"]:
                self._conversations[cid].bot_present = True
        user = self.users[by]
        update = self.envelope(user, team_id, type="conversationUpdate", eventType="teamMemberAdded",
                                membersAdded=[{"id": self.bot_id}])
        update.pop("localTimezone", None)
        status, body = await self.post(bot_url, update)
        if status >= 300:
            return status, body
        return await self.post(bot_url, self.envelope(user, team_id, type="installationUpdate", action="add"))

    async def uninstall_from_team(self, bot_url: str, team_id: str, *, by: str) -> tuple[int, Any]:
        with self._lock:
            for cid in self.teams[team_id]["channels"]:
                self._conversations[cid].bot_present = False
        return await self.post(bot_url, self.envelope(self.users[by], team_id, type="installationUpdate",
                                                       action="remove"))

    async def install_personal(self, bot_url: str, aad: str) -> str:
        """Someone adds cxloop as a personal app: their 1:1 chat exists, and the bot hears of it."""
        user = self.users[aad]
        with self._lock:
            cid = self.personal_chat(aad) or "a:" + uuid.uuid5(uuid.NAMESPACE_OID, "chat:" + aad).hex
            self._conversations.setdefault(cid, _Conversation(id=cid, kind="personal", members=[aad]))
            self._conversations[cid].bot_present = True
        status, _ = await self.post(bot_url, self.envelope(user, cid, type="conversationUpdate",
                                                            membersAdded=[{"id": self.bot_id}, user.account()]))
        assert status < 300, status
        await self.post(bot_url, self.envelope(user, cid, type="installationUpdate", action="add"))
        return cid

    async def install_in_group_chat(self, bot_url: str, chat_id: str, *, by: str) -> tuple[int, Any]:
        with self._lock:
            self._conversations[chat_id].bot_present = True
        return await self.post(bot_url, self.envelope(self.users[by], chat_id, type="conversationUpdate",
                                                       membersAdded=[{"id": self.bot_id}]))

    async def message(self, bot_url: str, aad: str, text: str, *, conversation: str,
                      mentions: list[str] | None = None, mention_bot: bool | None = None) -> tuple[int, Any]:
        """`aad` writes `text` in a conversation. In a channel it is a new post that @mentions cxloop (a
        bot only hears channel posts that mention it); `@Name` of each `mentions` person becomes a mention."""
        user = self.users[aad]
        with self._lock:
            conv = self._conversations[conversation]
        entities: list[dict[str, Any]] = []
        if mention_bot is None:
            mention_bot = conv.kind != "personal"
        if mention_bot:
            text = f"<at>{self.bot_name}</at> {text}"
            entities.append({"type": "mention", "text": f"<at>{self.bot_name}</at>",
                             "mentioned": {"id": self.bot_id, "name": self.bot_name}})
        for other in mentions or []:
            person = self.users[other]
            text = text.replace(f"@{person.name}", f"<at>{person.name}</at>")
            entities.append({"type": "mention", "text": f"<at>{person.name}</at>",
                             "mentioned": {"id": person.id, "name": person.name}})
        conv_id = conversation
        activity_id = None
        if conv.kind == "channel":
            with self._lock:
                post = self._store(conv, {"type": "message", "text": text, "from": user.account()}, None)
            activity_id = post["id"]
            conv_id = f"{conversation};messageid={activity_id}"
        activity = self.envelope(user, conv_id, type="message", text=text, textFormat="plain",
                                  **({"id": activity_id} if activity_id else {}))
        activity["entities"] = entities + activity.get("entities", [])
        return await self.post(bot_url, activity)

    def _card_location(self, conversation_id: str, activity_id: str) -> tuple[str, dict[str, Any]]:
        card_activity = self.activity(conversation_id, activity_id)
        return card_activity.get("conversationId") or conversation_id, card_activity

    async def click(self, bot_url: str, aad: str, conversation_id: str, activity_id: str, title: str
                    ) -> tuple[int, Any]:
        """`aad` clicks the button titled `title` (or starting with it) on a card: a task/fetch invoke."""
        where, card_activity = self._card_location(conversation_id, activity_id)
        card = card_of(card_activity)
        actions = [a for a in find_actions(card) if str(a.get("title", "")).startswith(title)]
        if not actions:
            raise LookupError(f"no button {title!r} on the card: {[a.get('title') for a in find_actions(card)]}")
        data = copy.deepcopy(actions[0].get("data") or {})
        kind = ((data.get("msteams") or {}).get("type")) if isinstance(data, dict) else None
        if kind != "task/fetch":
            raise AssertionError(f"button {title!r} does not open a dialog: {data!r}")
        invoke = self.envelope(self.users[aad], where, type="invoke", name="task/fetch",
                                value={"data": data, "context": {"theme": "default"}}, replyToId=activity_id)
        return await self.post(bot_url, invoke)

    async def submit(self, bot_url: str, aad: str, dialog: Any, inputs: dict[str, Any], *,
                     conversation_id: str, activity_id: str | None = None) -> tuple[int, Any]:
        """`aad` fills in the dialog's card and presses its submit button: a task/submit invoke.

        As the Teams client does, refuses to send when a required input is empty.
        """
        card = ((((dialog or {}).get("task") or {}).get("value") or {}).get("card") or {}).get("content")
        if card is None:
            raise AssertionError(f"not a dialog with a card: {dialog!r:.300}")
        known = {i["id"]: i for i in find_inputs(card)}
        unknown = set(inputs) - set(known)
        if unknown:
            raise ClientValidationError(f"inputs not on the card: {sorted(unknown)}; the card has {sorted(known)}")
        values: dict[str, Any] = {}
        for iid, el in known.items():
            value = inputs.get(iid, el.get("value"))
            if el["type"] == "Input.Toggle":
                on, off = el.get("valueOn", "true"), el.get("valueOff", "false")
                value = on if value in (True, on, "true") else off
            if value is None or value == "":
                if el.get("isRequired") and not (el["type"] == "Input.Toggle"):
                    raise ClientValidationError(f"{iid!r} is required")
                continue
            if el["type"] == "Input.Toggle" and el.get("isRequired") and value != el.get("valueOn", "true"):
                raise ClientValidationError(f"{iid!r} must be turned on")
            if el["type"] == "Input.Text" and el.get("maxLength") and len(str(value)) > int(el["maxLength"]):
                value = str(value)[: int(el["maxLength"])]  # the text box stops typing at maxLength
            values[iid] = str(value) if not isinstance(value, str) else value
        actions = find_actions(card)
        if not actions:
            raise AssertionError("the dialog has no submit button")
        data = {**copy.deepcopy(actions[-1].get("data") or {}), **values}
        invoke = self.envelope(self.users[aad], conversation_id, type="invoke", name="task/submit",
                                value={"data": data, "context": {"theme": "default"}},
                                **({"replyToId": activity_id} if activity_id else {}))
        return await self.post(bot_url, invoke)


class _ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


def _code(status: int) -> str:
    return {429: "ThrottledTooManyRequests", 412: "PreconditionFailed", 403: "BotNotInConversationRoster",
            404: "ConversationNotFound", 502: "BadGateway", 504: "GatewayTimeout", 500: "InternalServerError",
            503: "ServiceUnavailable", 413: "MessageSizeTooBig"}.get(status, "Error")
