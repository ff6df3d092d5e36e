"""The botbuilder CloudAdapter for cxloop, built from TEAMS_APP_ID / _PASSWORD / _TENANT_ID / _TYPE.

This module and the rest of `handlers/teams` are the only code that imports botbuilder. Microsoft
has put botbuilder-python in maintenance; its successor is the Microsoft 365 Agents SDK. Moving
means rewriting this package (the adapter, the activity handler in `bot.py`, the port in `port.py`)
against that SDK; the card renderer (`cards.py`), the package builder and everything in `bot/`
stay as they are.

Authentication:
- TEAMS_APP_ID set: every request to /api/messages must carry a Bot Framework token, checked
  against Microsoft's signing keys (and its `serviceurl` claim against the activity), and cxloop
  gets its own tokens to post.
- TEAMS_APP_ID unset: Teams is off, /api/messages is not served, unless TEAMS_ALLOW_NO_AUTH=1
  asks for the local-testing mode (Bot Framework Emulator, the stand-in): then NO request is
  authenticated, and only activities whose serviceUrl is on this machine are accepted, so the
  server can never be made to post anywhere else. Never use that mode on a reachable server.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botbuilder.schema import Activity
from botframework.connector.auth import (
    AuthenticateRequestResult,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    ServiceClientCredentialsFactory,
    UserTokenClient,
)
from urllib3.util.retry import Retry

from bot.config import ConfigError, Settings
from handlers.teams import NO_AUTH_ENV, teams_mode

log = logging.getLogger(__name__)
CONNECTOR_TIMEOUT = 20  # seconds for one Bot Connector call; the outbox retries


@dataclass(frozen=True)
class TeamsAuth:
    """Where botbuilder checks inbound tokens and gets outbound ones; all None means Microsoft's public cloud.

    The local stand-in (`standins/bot_connector.py`) fills these in for tests.
    """

    openid_metadata_url: str | None = None  # TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL
    token_issuer: str | None = None  # TO_BOT_FROM_CHANNEL_TOKEN_ISSUER
    login_url: str | None = None  # TO_CHANNEL_FROM_BOT_LOGIN_URL
    oauth_scope: str | None = None  # TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
    oauth_url: str | None = None  # OAUTH_URL
    emulator_openid_metadata_url: str | None = None  # TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL
    credentials_factory: ServiceClientCredentialsFactory | None = field(default=None, compare=False)


class _Configuration:
    """The attribute bag ConfigurationBotFrameworkAuthentication reads its settings from."""

    def __init__(self, settings: Settings, auth: TeamsAuth | None):
        self.APP_ID = settings.teams_app_id or ""
        self.APP_PASSWORD = settings.teams_app_password or ""
        self.APP_TENANTID = settings.teams_app_tenant_id or ""
        # New Azure Bot registrations are single-tenant; botbuilder's own default is MultiTenant.
        self.APP_TYPE = settings.teams_app_type or ("SingleTenant" if settings.teams_app_tenant_id else "MultiTenant")
        if auth is not None:
            for attr, value in (("TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL", auth.openid_metadata_url),
                                ("TO_BOT_FROM_CHANNEL_TOKEN_ISSUER", auth.token_issuer),
                                ("TO_CHANNEL_FROM_BOT_LOGIN_URL", auth.login_url),
                                ("TO_CHANNEL_FROM_BOT_OAUTH_SCOPE", auth.oauth_scope),
                                ("OAUTH_URL", auth.oauth_url),
                                ("TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL", auth.emulator_openid_metadata_url)):
                if value:
                    setattr(self, attr, value)


class _NoRetryConnectorFactory(ConnectorFactory):
    """Connector clients without msrest's own retries: the outbox retries, and knows when not to."""

    def __init__(self, inner: ConnectorFactory):
        self.inner = inner

    async def create(self, service_url: str, audience: str = None):  # type: ignore[no-untyped-def,assignment]
        client = await self.inner.create(service_url, audience)
        config = client.config
        # msrest would retry a POST after a 502 (a possible duplicate) and sleep through a 429's
        # Retry-After inside the request; neither is wanted.
        config.retry_policy.policy = Retry(total=0, connect=0, read=0, redirect=0, status=0, status_forcelist=[],
                                           respect_retry_after_header=False, raise_on_status=False)
        config.connection.timeout = CONNECTOR_TIMEOUT
        return client


class _Authentication(BotFrameworkAuthentication):
    """ConfigurationBotFrameworkAuthentication with no-retry connector clients."""

    def __init__(self, inner: BotFrameworkAuthentication):
        self.inner = inner

    async def authenticate_request(self, activity: Activity, auth_header: str) -> AuthenticateRequestResult:
        result = await self.inner.authenticate_request(activity, auth_header)
        if result.connector_factory is not None:
            result.connector_factory = _NoRetryConnectorFactory(result.connector_factory)
        return result

    async def authenticate_streaming_request(self, auth_header: str, channel_id_header: str
                                             ) -> AuthenticateRequestResult:
        return await self.inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return _NoRetryConnectorFactory(self.inner.create_connector_factory(claims_identity))

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        return await self.inner.create_user_token_client(claims_identity)

    def create_bot_framework_client(self):  # type: ignore[no-untyped-def]
        return self.inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return self.inner.get_originating_audience()

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self.inner.authenticate_channel_request(auth_header)


def build_adapter(settings: Settings, auth: TeamsAuth | None = None) -> CloudAdapter:
    """A CloudAdapter authenticating as TEAMS_APP_ID (or not at all, in the explicit no-auth mode)."""
    config = _Configuration(settings, auth)
    try:
        inner = ConfigurationBotFrameworkAuthentication(
            config, credentials_factory=auth.credentials_factory if auth else None, logger=log)
    except Exception as exc:  # botbuilder raises bare Exceptions for missing settings
        raise ConfigError(f"Teams: {exc} (TEAMS_APP_TYPE={config.APP_TYPE}: set TEAMS_APP_ID, TEAMS_APP_PASSWORD "
                          f"and, for SingleTenant or UserAssignedMSI, TEAMS_APP_TENANT_ID)") from None
    return CloudAdapter(_Authentication(inner))


def warn_at_start(settings: Settings) -> None:
    """Say loudly, at start, when Teams runs without authentication."""
    mode = teams_mode(settings)
    if mode == "no-auth":
        log.warning(
            "TEAMS AUTHENTICATION IS OFF: TEAMS_APP_ID is not set and %s=1, so POST /api/messages accepts "
            "requests from anyone without checking a token. Only activities whose serviceUrl is on this "
            "machine are accepted. Use this only with the Bot Framework Emulator or a local stand-in, never on "
            "a server others can reach.", NO_AUTH_ENV)
