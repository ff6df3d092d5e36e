"""Delivers queued outbox messages to Slack through the Web API."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.messages import Image, Message
from bot.machinery.outbox import Delivered, PermanentFailure, RetryLater
from handlers.slack import render
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

METADATA_EVENT = "cxloop_outbox"
# Errors that no retry will fix.
PERMANENT = {"channel_not_found", "not_in_channel", "is_archived", "invalid_blocks", "invalid_blocks_format",
             "msg_too_long", "no_text", "user_not_found", "cant_update_message", "message_not_found",
             "invalid_auth", "not_authed", "account_inactive", "token_revoked", "missing_scope",
             "user_disabled", "cannot_dm_bot", "invalid_arguments", "edit_window_closed", "restricted_action"}


# How far before the first attempt a look-up starts: the database's clock (which timed the attempt)
# and Slack's (which stamps the message) may disagree by this much.
LOOK_BACK = 600.0
# An unanswered call (a timeout, a dropped connection, a gateway's 5xx) may still be carried out for
# a while after the client gave up: a look-up sooner could miss a message that then appears.
SETTLE = 10.0


class SlackPort:
    """The ChatPort for Slack."""

    platform = "slack"

    def __init__(self, client: AsyncWebClient, *, per_channel_gap: float = 1.0, settle: float = SETTLE):
        self.client = client
        self.per_channel_gap = per_channel_gap
        self.settle = settle
        self._dm_channels: dict[str, str] = {}

    def pace(self, action: str) -> float:
        # Slack allows about one message per second per channel; edits are not posts.
        return self.per_channel_gap if action in ("post", "dm", "upload") else 0.0

    async def _dm_channel(self, user: str) -> str:
        if user not in self._dm_channels:
            resp = await self._call(self.client.conversations_open, users=user)
            self._dm_channels[user] = resp["channel"]["id"]
        return self._dm_channels[user]

    async def _call(self, fn, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return await fn(**kwargs)
        except SlackApiError as exc:
            status = exc.response.status_code
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            if status == 429:
                after = float(exc.response.headers.get("Retry-After", exc.response.headers.get("retry-after", 1)))
                raise RetryLater(f"rate limited by Slack ({fn.__name__})", after=after) from None
            if status >= 500:
                # A 502/503/504 comes from a gateway: Slack behind it may still be doing the work.
                raise RetryLater(f"Slack answered {status} to {fn.__name__}", maybe_sent=True,
                                 unanswered=status in (502, 503, 504)) from None
            if error in PERMANENT:
                raise PermanentFailure(f"{fn.__name__}: {error}") from None
            if error == "ratelimited":
                raise RetryLater("rate limited", after=1.0) from None
            raise RetryLater(f"{fn.__name__}: {error or status}") from None
        except (aiohttp.ClientError, asyncio.TimeoutError, TimeoutError, ConnectionError, OSError) as exc:
            raise RetryLater(f"network error calling {fn.__name__}: {exc!r}", unanswered=True) from None

    async def send(self, row: OutboxMessage, *, thread: Delivered | None, anchor: Delivered | None) -> Delivered:
        msg = Message.model_validate(row.payload)
        if row.action == "home":
            await self._call(self.client.views_publish, user_id=row.target,
                             view={"type": "home", "blocks": render.blocks(msg.blocks)[:100]})
            return Delivered(channel=row.target, ref="home")
        if row.action == "upload":
            # A picture for the message it threads under (digest charts); the DM channel for DMs.
            assert thread is not None
            for b in msg.blocks:
                if isinstance(b, Image):
                    await self._call(self.client.files_upload_v2, channel=thread.channel, thread_ts=thread.ref,
                                     content=base64.b64decode(b.png_base64), filename=b.filename, title=b.title,
                                     alt_txt=b.alt)
            return Delivered(channel=thread.channel, ref=thread.ref)
        rendered = render.message(msg)
        if row.action == "update":
            assert anchor is not None
            await self._call(self.client.chat_update, channel=anchor.channel, ts=anchor.ref, **rendered)
            return anchor
        channel = await self._dm_channel(row.target) if row.action == "dm" else row.target
        kwargs = dict(rendered, channel=channel, unfurl_links=False, unfurl_media=False,
                      metadata={"event_type": METADATA_EVENT, "event_payload": {"key": row.dedupe_key}})
        if thread is not None:
            kwargs["thread_ts"] = thread.ref
            if msg.broadcast:
                kwargs["reply_broadcast"] = True
        resp = await self._call(self.client.chat_postMessage, **kwargs)
        return Delivered(channel=resp["channel"], ref=resp["ts"])

    async def find_sent(self, row: OutboxMessage, *, thread: Delivered | None = None) -> Delivered | None:
        """Look for a message an earlier, unanswered attempt may have posted: by its metadata key, or
        for a picture by its file name in the thread. Raises RetryLater if Slack does not answer."""
        if row.action == "upload":
            if thread is None:
                return None
            names = {b.filename for b in Message.model_validate(row.payload).blocks if isinstance(b, Image)}
            channel, fn = thread.channel, self.client.conversations_replies
            kwargs: dict[str, Any] = {"ts": thread.ref}

            def match(m: dict[str, Any]) -> bool:
                return any(f.get("name") in names for f in m.get("files") or [])
        else:
            channel = await self._dm_channel(row.target) if row.action == "dm" else row.target
            fn, kwargs = self.client.conversations_history, {}
            if thread is not None:
                # Replies are not in the channel's history; read the thread instead.
                fn, kwargs = self.client.conversations_replies, {"ts": thread.ref}

            def match(m: dict[str, Any]) -> bool:
                meta = m.get("metadata") or {}
                return meta.get("event_type") == METADATA_EVENT and (meta.get("event_payload") or {}).get("key") == row.dedupe_key
        # From just before the first attempt (on the database's clock; the row's creation for rows
        # from before that was recorded), so a long queue does not mean a long look-up.
        since = row.first_try_at if row.first_try_at is not None else row.created_at.timestamp()
        kwargs.update(channel=channel, oldest=f"{since - LOOK_BACK:.6f}", include_all_metadata=True, limit=200)
        cursor = None
        for _ in range(10):
            resp = await self._call(fn, cursor=cursor, **kwargs)
            for m in resp.get("messages", []):
                if match(m):
                    return Delivered(channel=channel, ref=thread.ref if row.action == "upload" and thread else m["ts"])
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return None
