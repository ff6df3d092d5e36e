"""The Bolt app: one workspace, one bot token, and every listener named in LISTENERS."""

from __future__ import annotations

from collections.abc import Callable

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult

from bot.machinery.runtime import Runtime
from handlers.slack import assist, commands, dm, events, interactions
from handlers.slack.client import web_client


def build_app(rt: Runtime, *, token: str, signing_secret: str, api_url: str | None = None,
              bot_user_id: str = "U0CXLOOP", team_id: str = "T0CXLOOP", worker: bool = False,
              first: Callable[[AsyncApp], None] | None = None) -> AsyncApp:
    """A Bolt app for one workspace. The token is never checked with auth.test at start.

    `worker`: the app that handles stored requests (handlers.slack.inbox); it runs each listener to
    its end before returning, so the inbox knows when an item is done. `first` adds middleware
    that runs before the listeners' own (the front app's acknowledge-and-store).
    """
    # No token on the app's own client: `authorize` supplies it to every listener's client, and Bolt
    # would otherwise warn that the token is ignored.
    client = web_client(None, api_url)

    async def authorize(**_: object) -> AuthorizeResult:
        # One workspace, one bot token: no auth.test round trip on every request.
        return AuthorizeResult(enterprise_id=None, team_id=team_id, bot_token=token, bot_user_id=bot_user_id,
                               bot_id="B0CXLOOP")

    app = AsyncApp(client=client, signing_secret=signing_secret, authorize=authorize,
                   request_verification_enabled=True, process_before_response=worker,
                   ignoring_self_events_enabled=True, url_verification_enabled=True)

    if first is not None:
        first(app)
    for listeners in LISTENERS:
        listeners.register(app, rt)
    return app


# Every group of Slack listeners, registered in this order (events first: its middleware must see
# every request before a listener does).
LISTENERS = (events, interactions, commands, assist, dm)
