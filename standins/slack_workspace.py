"""The Slack stand-in's workspace: channels, messages, views and files, and the Web API methods on them.

Every method here is called with the stand-in's lock held (standins/slack_api.py serves HTTP, records
calls and injects faults).
"""


from __future__ import annotations

import base64
import json
import mimetypes
import re
import time
from decimal import Decimal, InvalidOperation
from typing import Any

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


class ApiError(Exception):
    """A Slack API error, answered as HTTP 200 with ``{"ok": false, "error": code}``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class SlackWorkspace:
    """The workspace's state and the Web API methods, for SlackStandIn (which holds the attributes)."""

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
                raise ApiError("channel_not_found")
            return found[0]
        if allow_user and _USER_ID.fullmatch(name):
            return self._open_conversation([name])[0]  # Slack posts to a user id in the app's DM
        if name in self._conversations.values():
            return name
        known = name in self._channels if self._channels else bool(_CHANNEL_ID.fullmatch(name))
        if not known:
            raise ApiError("channel_not_found")
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
            raise ApiError("message_not_found")
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
            raise ApiError("user_not_in_channel")
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
            raise ApiError("users_list_not_supplied")
        if not all(_USER_ID.fullmatch(u) for u in users):
            raise ApiError("user_not_found")
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
            raise ApiError("thread_not_found")
        root_ts = parent.get("thread_ts", parent["ts"])
        thread = [m for m in store.values() if m["ts"] == root_ts or m.get("thread_ts") == root_ts]
        page, cursor = _page(_between(thread, body), body)
        return {"messages": [_as_read(m, body) for m in page], "has_more": bool(cursor),
                "response_metadata": {"next_cursor": cursor}}

    def _users_info(self, body: dict[str, Any]) -> dict[str, Any]:
        user_id = str(body.get("user") or "")
        user = self._bot_user() if user_id == BOT_USER_ID else self._users.get(user_id)
        if user is None:
            raise ApiError("user_not_found")
        return {"user": user}

    def _users_list(self, body: dict[str, Any]) -> dict[str, Any]:
        page, cursor = _page([*self._users.values(), self._bot_user()], body)
        return {"members": page, "cache_ts": int(time.time()), "response_metadata": {"next_cursor": cursor}}

    def _views_open(self, body: dict[str, Any]) -> dict[str, Any]:
        if not (body.get("trigger_id") or body.get("interactivity_pointer")):
            raise ApiError("invalid_arguments")
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
            raise ApiError("not_found")
        if body.get("hash") and body["hash"] != current["hash"]:
            raise ApiError("hash_conflict")
        return {"view": self._save_view(view, current["id"])}

    def _views_publish(self, body: dict[str, Any]) -> dict[str, Any]:
        user_id = str(body.get("user_id") or "")
        if not _USER_ID.fullmatch(user_id):
            raise ApiError("invalid_arguments")
        view = _check_view(body.get("view"), "home")
        current = self.home_views.get(user_id)
        if current is not None and body.get("hash") and body["hash"] != current["hash"]:
            raise ApiError("hash_conflict")
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
            raise ApiError("invalid_arguments") from None
        if not filename:
            raise ApiError("invalid_arguments")
        file_id = self._new_id("F")
        self.files[file_id] = {"id": file_id, "name": filename, "title": filename, "length": length,
                               "alt_txt": body.get("alt_txt"), "content": None, "channels": []}
        return {"upload_url": f"{self.url}/upload/v1/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, body: dict[str, Any]) -> dict[str, Any]:
        entries = body.get("files")
        if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
            raise ApiError("invalid_arguments")
        # A file whose bytes never reached its upload URL does not exist yet.
        files = [self.files.get(str(e.get("id"))) for e in entries]
        if any(f is None or f["content"] is None for f in files):
            raise ApiError("file_not_found")
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


async def read_body(request: web.Request) -> dict[str, Any]:
    """The call's arguments, from the query string and a JSON, form or multipart body."""
    # AsyncWebClient sends `params` as a query string, even on POST; WebClient sends a form body.
    body: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        raw = await request.read()
        try:
            parsed = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            raise ApiError("invalid_json") from None
        if not isinstance(parsed, dict):
            raise ApiError("invalid_json")
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
        raise ApiError("no_text")
    text = body.get("text")
    if text is not None and len(str(text)) > MAX_TEXT:
        raise ApiError("msg_too_long")
    blocks = body.get("blocks")
    if blocks is not None and not (isinstance(blocks, list) and len(blocks) <= MAX_MESSAGE_BLOCKS
                                   and all(isinstance(b, dict) and b.get("type") for b in blocks)):
        raise ApiError("invalid_blocks")
    metadata = body.get("metadata")
    if metadata is not None and not (isinstance(metadata, dict) and isinstance(metadata.get("event_type"), str)
                                     and isinstance(metadata.get("event_payload"), dict)):
        raise ApiError("invalid_metadata_format")


def _check_view(view: Any, kind: str) -> dict[str, Any]:
    blocks = view.get("blocks", []) if isinstance(view, dict) else None
    if not isinstance(view, dict) or view.get("type") != kind or not isinstance(blocks, list) \
            or len(blocks) > MAX_VIEW_BLOCKS:
        raise ApiError("invalid_arguments")
    return view


def _ts(value: Any, error: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ApiError(error) from None


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
        raise ApiError("invalid_cursor") from None
    end = start + max(limit, 1)
    cursor = base64.b64encode(f"offset:{end}".encode()).decode() if end < len(items) else ""
    return items[start:end], cursor


def _as_read(message: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """A stored message as a read method returns it: metadata only when asked for."""
    shown = dict(message)
    if not _truthy(body.get("include_all_metadata")):
        shown.pop("metadata", None)
    return shown
