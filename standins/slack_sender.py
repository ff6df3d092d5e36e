"""Plays Slack's side of inbound traffic: signed slash commands, clicks, form submissions, events.

The bodies have the shapes Slack sends (form-encoded `payload=` for interactivity, form fields for
slash commands, JSON for the Events API), signed with the app's signing secret as Slack signs them.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

_ids = itertools.count(1)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class SlackReply:
    status: int
    text: str
    response_token: str | None = None

    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


class SlackSender:
    """Sends Slack-shaped, signed requests to a cxloop server's `/slack/events`."""

    def __init__(self, url: str, signing_secret: str, *, team_id: str = "T0CXLOOP",
                 session: aiohttp.ClientSession | None = None, response_base: str | None = None):
        self.url = url
        # Where response_urls point (a stand-in's `response_base`); Slack's own host otherwise.
        self.response_base = response_base or "https://hooks.slack.invalid/commands"
        self.secret = signing_secret
        self.team_id = team_id
        self._session = session
        self._own_session = session is None

    async def __aenter__(self) -> "SlackSender":
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    # --- raw -------------------------------------------------------------------------------

    def headers(self, body: bytes, content_type: str, *, timestamp: int | None = None,
                retry_num: int | None = None, signature: str | None = None) -> dict[str, str]:
        ts = int(time.time()) if timestamp is None else timestamp
        h = {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(ts),
             "X-Slack-Signature": signature if signature is not None else sign(self.secret, body, ts)}
        if retry_num is not None:
            h["X-Slack-Retry-Num"] = str(retry_num)
            h["X-Slack-Retry-Reason"] = "http_timeout"
        return h

    async def post(self, body: bytes, content_type: str, **header_opts: Any) -> SlackReply:
        assert self._session is not None, "use `async with SlackSender(...)`"
        async with self._session.post(self.url, data=body, headers=self.headers(body, content_type, **header_opts)) as r:
            return SlackReply(r.status, await r.text())

    # --- Slack's shapes --------------------------------------------------------------------

    def command_body(self, user: str, text: str, *, channel: str = "C0SUPPORT", command: str = "/cx") -> bytes:
        n = next(_ids)
        return urlencode({
            "token": "deprecated-verification-token", "team_id": self.team_id, "team_domain": "acme",
            "channel_id": channel, "channel_name": "support", "user_id": user, "user_name": user.lower(),
            "command": command, "text": text, "api_app_id": "A0CXLOOP", "is_enterprise_install": "false",
            "response_url": f"{self.response_base}/{n}",
            "trigger_id": f"{n}.{int(time.time())}.trigger",
        }).encode()

    async def command(self, user: str, text: str, *, channel: str = "C0SUPPORT", **opts: Any) -> SlackReply:
        """`/cx <text>` typed by `user` in `channel`; `.response_token` names its response_url."""
        body = self.command_body(user, text, channel=channel)
        reply = await self.post(body, "application/x-www-form-urlencoded", **opts)
        from urllib.parse import parse_qs

        reply.response_token = parse_qs(body.decode())["response_url"][0].rsplit("/", 1)[-1]
        return reply

    def _interactive(self, payload: dict[str, Any]) -> bytes:
        return urlencode({"payload": json.dumps(payload)}).encode()

    def click_body(self, user: str, message: dict[str, Any], action_id: str, *, channel: str,
                   selected_user: str | None = None, container_type: str = "message") -> bytes:
        """A block_actions payload for clicking `action_id` in a message as the stand-in stored it."""
        block, element = _find_element(message.get("blocks") or [], action_id)
        n = next(_ids)
        action: dict[str, Any] = {"action_id": element["action_id"], "block_id": block.get("block_id", "b"),
                                  "type": element["type"], "action_ts": f"{time.time():.6f}"}
        if element["type"] == "button":
            action["value"] = element.get("value", "")
            action["text"] = element["text"]
        elif element["type"] == "users_select":
            action["selected_user"] = selected_user
        payload = {
            "type": "block_actions", "team": {"id": self.team_id, "domain": "acme"},
            "user": {"id": user, "username": user.lower(), "team_id": self.team_id},
            "api_app_id": "A0CXLOOP", "token": "deprecated", "trigger_id": f"{n}.{int(time.time())}.trigger",
            "container": {"type": container_type, "message_ts": message.get("ts"), "channel_id": channel,
                          "is_ephemeral": False},
            "channel": {"id": channel, "name": "support"},
            "message": message, "response_url": f"https://hooks.slack.invalid/actions/{n}", "actions": [action],
        }
        return self._interactive(payload)

    async def click(self, user: str, message: dict[str, Any], action_id: str, *, channel: str,
                    selected_user: str | None = None, **opts: Any) -> SlackReply:
        body = self.click_body(user, message, action_id, channel=channel, selected_user=selected_user)
        return await self.post(body, "application/x-www-form-urlencoded", **opts)

    def action_body(self, user: str, action_id: str, *, message: dict[str, Any] | None = None,
                    channel: str | None = None, ephemeral: bool = False, view: dict[str, Any] | None = None,
                    selected_user: str | None = None, selected_option: str | None = None) -> bytes:
        """A block_actions payload for any element cxloop sends, where Slack shows it: a channel or DM
        message (`message` and `channel`), an ephemeral message (`ephemeral`: Slack sends its blocks'
        container but not the message), or a view (`view`: the App Home or a modal). Buttons carry
        their value, selects and overflow menus the option picked (`selected_option`, its value),
        user pickers `selected_user`."""
        if view is None and message is None:
            raise ValueError("say where the element is: a message or a view")
        blocks = (view if view is not None else message or {}).get("blocks") or []
        block, element = _find_element(blocks, action_id)
        n = next(_ids)
        action: dict[str, Any] = {"action_id": element["action_id"], "block_id": block.get("block_id", "b"),
                                  "type": element["type"], "action_ts": f"{time.time():.6f}"}
        if element["type"] == "button":
            action.update(value=element.get("value", ""), text=element["text"])
        elif element["type"] in ("users_select", "multi_users_select"):
            action["selected_user"] = selected_user
        elif element["type"] in ("static_select", "overflow"):
            option = next((o for o in element.get("options") or [] if o.get("value") == selected_option), None)
            if option is None:
                raise LookupError(f"no option {selected_option!r} in {action_id!r}")
            action["selected_option"] = option
        payload: dict[str, Any] = {
            "type": "block_actions", "team": {"id": self.team_id, "domain": "acme"},
            "user": {"id": user, "username": user.lower(), "team_id": self.team_id},
            "api_app_id": "A0CXLOOP", "token": "deprecated", "trigger_id": f"{n}.{int(time.time())}.trigger",
            "is_enterprise_install": False, "enterprise": None, "state": {"values": {}}, "actions": [action],
        }
        if view is not None:
            payload["container"] = {"type": "view", "view_id": view.get("id")}
            payload["view"] = view
        else:
            assert message is not None and channel, "a message click needs its channel"
            payload["container"] = {"type": "message", "message_ts": message.get("ts"), "channel_id": channel,
                                    "is_ephemeral": ephemeral}
            payload["channel"] = {"id": channel, "name": channel.lower()}
            payload["response_url"] = f"{self.response_base}/action-{n}"
            if not ephemeral:
                payload["message"] = message
        return self._interactive(payload)

    @staticmethod
    def trigger_of(body: bytes) -> str:
        """The trigger_id of an interactive body built here (who gets the modal it opens)."""
        from urllib.parse import parse_qs

        return json.loads(parse_qs(body.decode())["payload"][0])["trigger_id"]

    async def submit(self, user: str, view: dict[str, Any], values: dict[str, Any], **opts: Any) -> SlackReply:
        """Submit a modal (as opened through views.open) with `values` {block_id: value}."""
        state: dict[str, Any] = {}
        for b in view.get("blocks", []):
            if b.get("type") != "input":
                continue
            el = b["element"]
            v = values.get(b["block_id"])
            t = el["type"]
            if t == "plain_text_input":
                entry: dict[str, Any] = {"type": t, "value": v}
            elif t == "static_select":
                entry = {"type": t, "selected_option": None if v is None else
                         next(o for o in el["options"] if o["value"] == v)}
            elif t == "checkboxes":
                entry = {"type": t, "selected_options": el["options"] if v else []}
            elif t == "datetimepicker":
                entry = {"type": t, "selected_date_time": v}
            elif t == "users_select":
                entry = {"type": t, "selected_user": v}
            else:
                entry = {"type": t}
            state[b["block_id"]] = {el["action_id"]: entry}
        n = next(_ids)
        payload = {
            "type": "view_submission", "team": {"id": self.team_id, "domain": "acme"},
            "user": {"id": user, "username": user.lower(), "team_id": self.team_id},
            "api_app_id": "A0CXLOOP", "token": "deprecated", "trigger_id": f"{n}.{int(time.time())}.trigger",
            "view": {**view, "id": view.get("id", f"V{n:08d}"), "team_id": self.team_id, "type": "modal",
                     "state": {"values": state}, "hash": f"{n}.hash", "app_id": "A0CXLOOP", "bot_id": "B0CXLOOP"},
            "response_urls": [],
        }
        return await self.post(self._interactive(payload), "application/x-www-form-urlencoded", **opts)

    def event_body(self, event: dict[str, Any], *, event_id: str | None = None) -> bytes:
        n = next(_ids)
        return json.dumps({
            "token": "deprecated", "team_id": self.team_id, "api_app_id": "A0CXLOOP", "type": "event_callback",
            "event": {**event, "event_ts": f"{time.time():.6f}"}, "event_id": event_id or f"Ev{n:08d}",
            "event_time": int(time.time()), "authorizations": [{"team_id": self.team_id, "user_id": "U0CXLOOP",
                                                                "is_bot": True}],
        }).encode()

    async def event(self, event: dict[str, Any], *, event_id: str | None = None, **opts: Any) -> SlackReply:
        return await self.post(self.event_body(event, event_id=event_id), "application/json", **opts)

    async def home_opened(self, user: str, **opts: Any) -> SlackReply:
        return await self.event({"type": "app_home_opened", "user": user, "channel": f"D{user[1:]}", "tab": "home"},
                                **opts)


def _find_element(blocks: list[dict[str, Any]], action_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    for b in blocks:
        for el in b.get("elements", []) if b.get("type") == "actions" else []:
            if el.get("action_id") == action_id or el.get("action_id", "").split(":")[0] == action_id:
                return b, el
        acc = b.get("accessory")
        if acc and acc.get("action_id") == action_id:
            return b, acc
    raise LookupError(f"no element {action_id!r} in the message")
