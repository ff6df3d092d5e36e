"""manifest.yml, Slack's app manifest for cxloop, kept in step with the code.

No network and no copy of Slack's schema: the limits that matter are restated below from Slack's
app manifest JSON schema, version 1 (github.com/slackapi/manifest-schema,
schemas/manifest.schema.1.0.0.json). The full schema check is described in docs/slack-setup.md.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_bolt.async_app import AsyncApp

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "manifest.yml"
SETUP_DOC = ROOT / "docs" / "slack-setup.md"

# From schemas/manifest.schema.1.0.0.json (minLength, maxLength) and its background_color regex.
NAME_LEN = (1, 35)
DESCRIPTION_LEN = (1, 140)
LONG_DESCRIPTION_LEN = (175, 4000)
BOT_DISPLAY_NAME_LEN = (1, 80)
COMMAND_LEN = (2, 32)
COMMAND_DESCRIPTION_LEN = (1, 2000)
USAGE_HINT_LEN = (1, 1000)
URL_MAX = {"slash command url": 3000, "request_url": 3500}
BACKGROUND_COLOR = re.compile(r"^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$")
TOP_LEVEL_KEYS = {"$schema", "_metadata", "app_directory", "display_information", "features", "oauth_config",
                  "settings", "functions", "workflows", "datastores", "outgoing_domains", "types",
                  "external_auth_providers"}

# Every bot scope cxloop may request, and why. Adding a scope to manifest.yml means adding it here
# with the method or feature that needs it, and to the "Why each scope" table in docs/slack-setup.md.
SCOPE_REASONS = {
    "chat:write": "chat.postMessage (with metadata), chat.update, chat.postEphemeral",
    "commands": "the /cx slash command",
    "im:write": "conversations.open: the DM with a case owner",
    "channels:history": "conversations.history/.replies in public team channels (find an unacknowledged post)",
    "groups:history": "conversations.history/.replies in private team channels",
    "im:history": "conversations.history/.replies in DMs to case owners",
    "files:write": "files_upload_v2 (files.getUploadURLExternal + files.completeUploadExternal): digest charts",
    "users:read": "users.info: people's time zones for nudges",
}

# Every Slack Web API method the adapters call, as slack_sdk names it, and the bot scopes that let it
# succeed (a method needs one scope of each tuple; an empty list needs none). A new call in
# handlers/ fails test_every_web_api_call_has_its_scopes until it is added here.
METHOD_SCOPES: dict[str, list[tuple[str, ...]]] = {
    "chat_postMessage": [("chat:write",)],
    "chat_update": [("chat:write",)],
    "chat_postEphemeral": [("chat:write",)],
    "conversations_open": [("im:write",)],  # 1:1 DMs only
    # One per kind of conversation read: team channels (public or private) and owner DMs.
    "conversations_history": [("channels:history",), ("groups:history",), ("im:history",)],
    "conversations_replies": [("channels:history",), ("groups:history",), ("im:history",)],
    "files_upload_v2": [("files:write",)],
    "users_info": [("users:read",)],
    "views_open": [],
    "views_update": [],
    "views_publish": [],
    "auth_test": [],
}

# The `/cx` subcommands README.md documents, which the usage hint lists.
SUBCOMMANDS = {"help", "mine", "case", "open", "overdue", "assign", "scores", "digest", "kudos", "team", "role",
               "huddle", "improve",  # the outer loop's (README "The outer loop: huddles and improvements")
               "privacy"}  # admins' erasure (README "Customers' data")


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "manifest.yml must be a YAML mapping"
    return data


def _within(value: str, bounds: tuple[int, int], what: str) -> None:
    low, high = bounds
    assert isinstance(value, str), f"{what} must be a string"
    assert low <= len(value) <= high, f"{what} is {len(value)} characters; Slack allows {low}–{high}"


def _bot_scopes(manifest: dict[str, Any]) -> list[str]:
    return manifest["oauth_config"]["scopes"]["bot"]


# --- shape --------------------------------------------------------------------------------------

def test_top_level_keys_and_types(manifest: dict[str, Any]) -> None:
    assert set(manifest) <= TOP_LEVEL_KEYS, f"unknown top-level keys: {set(manifest) - TOP_LEVEL_KEYS}"
    for key in ("_metadata", "display_information", "features", "oauth_config", "settings"):
        assert isinstance(manifest.get(key), dict), f"{key} must be a mapping"
    assert manifest["_metadata"] == {"major_version": 1, "minor_version": 1}


def test_display_information(manifest: dict[str, Any]) -> None:
    info = manifest["display_information"]
    assert info["name"] == "cxloop"
    _within(info["name"], NAME_LEN, "display_information.name")
    _within(info["description"], DESCRIPTION_LEN, "display_information.description")
    _within(info["long_description"], LONG_DESCRIPTION_LEN, "display_information.long_description")
    assert BACKGROUND_COLOR.match(info["background_color"]), "background_color must be #rgb or #rrggbb"


def test_bot_user_and_app_home(manifest: dict[str, Any]) -> None:
    features = manifest["features"]
    _within(features["bot_user"]["display_name"], BOT_DISPLAY_NAME_LEN, "features.bot_user.display_name")
    assert features["bot_user"]["always_online"] is True
    home = features["app_home"]
    assert home["home_tab_enabled"] is True, "the App Home is published with views.publish"
    assert home["messages_tab_enabled"] is True, "owners get their cases by DM"


def test_settings(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is False, "HTTP by default; docs/slack-setup.md explains Socket Mode"
    assert settings["token_rotation_enabled"] is False, "cxloop uses one long-lived bot token"
    assert settings["org_deploy_enabled"] is False


# --- /cx ------------------------------------------------------------------------------------------

def test_cx_command(manifest: dict[str, Any]) -> None:
    (cx,) = manifest["features"]["slash_commands"]
    assert cx["command"] == "/cx"
    _within(cx["command"], COMMAND_LEN, "slash command")
    assert cx["url"] == "https://cxloop.example.com/slack/events"
    assert cx["should_escape"] is True, "mentions must arrive as <@U…|name> so `assign ID @user` gets an id"
    _within(cx["description"], COMMAND_DESCRIPTION_LEN, "/cx description")
    _within(cx["usage_hint"], USAGE_HINT_LEN, "/cx usage_hint")


def test_usage_hint_lists_every_subcommand(manifest: dict[str, Any]) -> None:
    hint = manifest["features"]["slash_commands"][0]["usage_hint"]
    listed = {part.split()[0] for part in hint.split(" | ")}
    assert listed == SUBCOMMANDS

    from bot.console import registry as commands

    commands.load_extensions()
    missing = set(commands.REGISTRY) - listed
    assert not missing, f"/cx subcommands the bot implements but the usage hint does not list: {sorted(missing)}"


# --- request URLs -------------------------------------------------------------------------------

def test_every_request_url_is_slack_events(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    urls = {
        "event_subscriptions.request_url": (settings["event_subscriptions"]["request_url"], URL_MAX["request_url"]),
        "interactivity.request_url": (settings["interactivity"]["request_url"], URL_MAX["request_url"]),
    }
    for cmd in manifest["features"]["slash_commands"]:
        urls[f"{cmd['command']} url"] = (cmd["url"], URL_MAX["slash command url"])
    for what, (url, limit) in urls.items():
        assert url.startswith("https://"), f"{what} must be https: {url}"
        assert url.endswith("/slack/events"), f"{what} must be the one Slack route, /slack/events: {url}"
        assert len(url) <= limit, f"{what} is longer than Slack allows ({limit})"
    assert len({u for u, _ in urls.values()}) == 1, "events, /cx and interactivity share one URL"


# --- scopes -------------------------------------------------------------------------------------

def test_scopes_are_allowed_and_explained(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]
    assert set(scopes) == {"bot"}, "cxloop needs no user token"
    bot = _bot_scopes(manifest)
    assert len(bot) == len(set(bot)), "a scope is listed twice"
    unexplained = set(bot) - set(SCOPE_REASONS)
    assert not unexplained, (f"scopes without a reason: {sorted(unexplained)}; add each to SCOPE_REASONS and to "
                             "docs/slack-setup.md with the method that needs it")
    # Each scope line in manifest.yml carries its reason as a YAML comment.
    text = MANIFEST.read_text(encoding="utf-8")
    for scope in bot:
        line = re.search(rf"^\s*-\s*{re.escape(scope)}\s*(#.*)?$", text, re.MULTILINE)
        assert line and line.group(1) and len(line.group(1)) > 5, f"scope {scope} has no reason comment in manifest.yml"


def test_every_web_api_call_has_its_scopes(manifest: dict[str, Any]) -> None:
    """Each Web API method the Slack adapters call is in METHOD_SCOPES, and its scopes are requested."""
    called: set[str] = set()
    for path in (ROOT / "handlers").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        if "slack_sdk" in source or "slack_bolt" in source:
            called |= set(re.findall(r"\bclient\.([a-z]+_[A-Za-z0-9_]+)\b", source))
    assert "chat_postMessage" in called, "the scan found no Web API calls; has the code moved?"
    unknown = called - set(METHOD_SCOPES)
    assert not unknown, f"Web API methods with no entry in METHOD_SCOPES: {sorted(unknown)} (look up their scopes)"
    bot = set(_bot_scopes(manifest))
    for method in sorted(called):
        for any_of in METHOD_SCOPES[method]:
            assert bot & set(any_of), f"{method} needs one of {any_of}; manifest.yml requests none of them"


def test_setup_doc_explains_every_scope(manifest: dict[str, Any]) -> None:
    doc = SETUP_DOC.read_text(encoding="utf-8")
    for scope in _bot_scopes(manifest):
        assert f"`{scope}`" in doc, f"docs/slack-setup.md does not say why cxloop needs {scope}"


# --- events and listeners -----------------------------------------------------------------------

class _RecordingApp(AsyncApp):
    """A real Bolt app that also notes what each listener was registered for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.registered: dict[str, list[Any]] = {k: [] for k in ("event", "message", "command", "action", "view",
                                                                 "shortcut", "options")}
        super().__init__(*args, **kwargs)

    def event(self, event: Any, *args: Any, **kwargs: Any) -> Any:
        self.registered["event"].append(event)
        return super().event(event, *args, **kwargs)

    def message(self, *args: Any, **kwargs: Any) -> Any:
        self.registered["message"].append(args)
        return super().message(*args, **kwargs)

    def command(self, command: Any, *args: Any, **kwargs: Any) -> Any:
        self.registered["command"].append(command)
        return super().command(command, *args, **kwargs)

    def action(self, constraints: Any, *args: Any, **kwargs: Any) -> Any:
        self.registered["action"].append(constraints)
        return super().action(constraints, *args, **kwargs)

    def view(self, constraints: Any, *args: Any, **kwargs: Any) -> Any:
        self.registered["view"].append(constraints)
        return super().view(constraints, *args, **kwargs)

    def shortcut(self, constraints: Any, *args: Any, **kwargs: Any) -> Any:
        self.registered["shortcut"].append(constraints)
        return super().shortcut(constraints, *args, **kwargs)

    def options(self, constraints: Any, *args: Any, **kwargs: Any) -> Any:
        self.registered["options"].append(constraints)
        return super().options(constraints, *args, **kwargs)


@pytest.fixture
def registered(engine, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:  # type: ignore[no-untyped-def]
    """What the Bolt app that `cxloop serve` builds listens to."""
    import handlers.slack.app as slack_app
    from bot.config import Settings, load_workspace
    from bot.machinery.runtime import Runtime

    monkeypatch.setattr(slack_app, "AsyncApp", _RecordingApp)
    settings = Settings(slack_bot_token="xoxb-test", slack_signing_secret="test-signing-secret")
    rt = Runtime(engine=engine, workspace=load_workspace(), settings=settings)
    app = slack_app.build_app(rt, token="xoxb-test", signing_secret="test-signing-secret")
    assert isinstance(app, _RecordingApp)
    return app.registered


def test_bot_events_are_the_events_the_app_handles(manifest: dict[str, Any], registered: dict[str, list[Any]]) -> None:
    handled = set()
    for event in registered["event"]:
        name = event.get("type") if isinstance(event, dict) else event
        assert isinstance(name, str), f"listener on {event!r}: name its event type so the manifest can subscribe to it"
        if name == "message":
            # Slack subscribes to messages per kind of conversation: message.im, message.channels, …
            kind = event.get("channel_type") if isinstance(event, dict) else None
            assert kind, f"listener on {event!r}: name the channel_type, so the manifest subscribes to only that"
            name = f"message.{kind}"
        handled.add(name)
    assert not registered["message"], ("the app listens to messages: subscribe manifest.yml to the matching "
                                       "message.* events and add their history scopes")
    bot_events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert len(bot_events) == len(set(bot_events))
    assert set(bot_events) == handled
    if "app_home_opened" in handled:
        assert manifest["features"]["app_home"]["home_tab_enabled"] is True


def test_slash_commands_are_the_commands_the_app_handles(manifest: dict[str, Any],
                                                        registered: dict[str, list[Any]]) -> None:
    declared = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert declared == set(registered["command"])
    assert "commands" in _bot_scopes(manifest)


def test_interactivity_matches_the_app(manifest: dict[str, Any], registered: dict[str, list[Any]]) -> None:
    interactive = any(registered[k] for k in ("action", "view", "shortcut", "options"))
    assert manifest["settings"]["interactivity"]["is_enabled"] is interactive
    assert not registered["shortcut"], "shortcuts must be declared in manifest.yml (features.shortcuts)"
    if registered["options"]:
        assert manifest["settings"]["interactivity"].get("message_menu_options_url"), "external selects need an options URL"
