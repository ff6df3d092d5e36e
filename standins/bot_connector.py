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

import copy
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from standins.connector_api import ConnectorApi
from standins.local_server import LocalServer
from standins.teams_client import TeamsClient
from standins.teams_tenant import (
    BOT_SCOPE,
    CHANNEL_ISSUER,
    KEY_ID,
    SERVICE_PATH,
    TENANT_ID,
    ConnectorCall,
    Conversation,
    Fault,
    StandInCredentialsFactory,
    TeamsUser,
    signing_key,
)


class BotConnectorStandIn(LocalServer, ConnectorApi, TeamsClient):
    """Teams, its Bot Connector and its token service, in memory on 127.0.0.1."""

    label = "Bot Connector stand-in"

    def __init__(self, *, app_id: str | None = None, app_password: str | None = None, bot_name: str = "cxloop",
                 enforce_rate: bool = False, check_cards: bool = True) -> None:
        super().__init__()
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
        self._faults: dict[str, deque[Fault]] = {}
        self._conversations: dict[str, Conversation] = {}
        self._sent_at: dict[str, deque[float]] = {}
        self._last_id = 0
        self._signing = signing_key("bot-framework")

    # ---- lifecycle -------------------------------------------------------------------------

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

    def add_routes(self, r: web.UrlDispatcher) -> None:
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
                self._conversations.setdefault(cid, Conversation(id=cid, kind="channel", team=team_id, name=cname,
                                                                  members=list(members or []), bot_present=False))

    def add_group_chat(self, chat_id: str, members: list[str]) -> None:
        with self._lock:
            self._conversations[chat_id] = Conversation(id=chat_id, kind="groupChat", members=list(members),
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
            self._faults.setdefault(op, deque()).append(Fault(status, retry_after, code, after_processing, times))

    def _take_fault(self, op: str) -> Fault | None:
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
        return self.channel_token(key=signing_key("someone-else"))

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
