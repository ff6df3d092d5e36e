"""Microsoft Teams as the stand-in keeps it: the tenant's constants, people, calls recorded and conversations,
and botbuilder credentials that fetch tokens from the stand-in's token service.
"""


from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from botframework.connector.auth import (
    AppCredentials,
    MicrosoftAppCredentials,
    ServiceClientCredentialsFactory,
)
from cryptography.hazmat.primitives.asymmetric import rsa

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


def signing_key(name: str) -> rsa.RSAPrivateKey:
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
class Fault:
    status: int
    retry_after: int | None
    code: str | None
    after_processing: bool
    remaining: int


@dataclass
class Conversation:
    id: str
    kind: str  # channel, personal, groupChat
    team: str | None = None
    name: str | None = None
    members: list[str] = field(default_factory=list)  # aad ids
    bot_present: bool = True
    activities: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> activity, in order



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
