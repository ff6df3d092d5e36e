"""Delivers queued outbox messages to Microsoft Teams, proactively, through the Bot Connector.

Every send starts from a conversation reference stored in the database (`conversations.py`):
- a channel post is a new message in the channel's conversation;
- a thread reply goes to `{channel};messageid={root activity id}`, the thread of the case's alert;
- a direct message goes to the person's personal chat with cxloop, which is opened (and stored)
  the first time through `create_conversation`, with the `29:` id found in a team cxloop is in;
- an edit is `update_activity` on the activity id the post was given.

Teams' limits: 7 messages a second per conversation (`pace`), 429 with Retry-After beyond; 412
when the conversation is busy; 502/504 from its gateways. 403/404 mean the conversation is gone
or cxloop was removed: retrying cannot help.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from botbuilder.core import BotAdapter, TurnContext
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    Attachment,
    ChannelAccount,
    ConversationParameters,
    ConversationReference,
)
from msrest.exceptions import ClientRequestError, HttpOperationError
from requests import RequestException
from sqlalchemy import Engine
from sqlmodel import Session

from bot.chat.messages import Message
from bot.machinery.outbox import Delivered, PermanentFailure, RetryLater
from handlers.teams import cards, conversations
from storage.db import session_scope
from storage.models import OutboxMessage
from storage.types import utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")

# Teams allows 7 messages per second per conversation (and 60 per 30 s); edits count too.
PER_CONVERSATION_GAP = 0.15
# How long a message may wait for cxloop to be added to its team or chat before it is given up.
INSTALL_GRACE = timedelta(hours=24)
GONE = {403, 404, 410}
MAYBE_DONE = {500, 502, 504}  # the gateway may have passed the message on before failing


def retry_after(headers: Any) -> float | None:
    value = (headers or {}).get("Retry-After") if headers is not None else None
    try:
        return max(float(value), 0.0) if value is not None else None
    except (TypeError, ValueError):
        return None


def translate(exc: BaseException, doing: str) -> BaseException:
    """A Bot Connector failure as the outbox understands it: retry (when), or give up."""
    if isinstance(exc, (RetryLater, PermanentFailure)):
        return exc
    if isinstance(exc, HttpOperationError) and getattr(exc, "response", None) is not None:
        response = exc.response
        status = int(getattr(response, "status_code", 0) or 0)
        code = getattr(getattr(getattr(exc, "error", None), "error", None), "code", None) or ""
        what = f"Teams answered {status}{' ' + code if code else ''} to {doing}"
        if status == 429:
            return RetryLater(f"rate limited by Teams ({doing})", after=retry_after(response.headers) or 1.0)
        if status == 412:
            # Precondition failed: Teams did not take the message (the conversation was busy).
            return RetryLater(what, after=retry_after(response.headers) or 1.0)
        if status in MAYBE_DONE:
            return RetryLater(what, maybe_sent=True, unanswered=status != 500)
        if status in GONE:
            return PermanentFailure(f"{what}: the conversation is gone or cxloop was removed from it")
        if status in (400, 413):
            return PermanentFailure(f"{what}: Teams will never accept this message")
        return RetryLater(what)
    if isinstance(exc, (ClientRequestError, RequestException, OSError, asyncio.TimeoutError, TimeoutError)):
        return RetryLater(f"network error on {doing}: {exc!r}", unanswered=True)
    if isinstance(exc, PermissionError):
        return RetryLater(f"no token for the Bot Connector ({doing}): {exc}")
    return exc


class TeamsPort:
    """The ChatPort for Microsoft Teams."""

    platform = "teams"
    # The Bot Connector cannot be asked what it delivered (find_sent), so there is nothing to wait for.
    settle = 0.0

    def __init__(self, adapter: BotAdapter, engine: Engine, *, app_id: str | None,
                 per_conversation_gap: float = PER_CONVERSATION_GAP, install_grace: timedelta = INSTALL_GRACE):
        self.adapter = adapter
        self.engine = engine
        self.app_id = app_id or None
        self.per_conversation_gap = per_conversation_gap
        self.install_grace = install_grace

    def pace(self, action: str) -> float:
        return self.per_conversation_gap if action in ("post", "dm", "update", "upload") else 0.0

    # --- the Bot Connector, through botbuilder ---------------------------------------------

    async def _with_client(self, reference: ConversationReference, doing: str,
                           work: Callable[[TurnContext, Any], Awaitable[T]]) -> T:
        """Run `work(turn_context, connector_client)` in a proactive turn; failures come back translated."""
        box: dict[str, Any] = {}

        async def logic(ctx: TurnContext) -> None:
            # Caught here: the adapter's turn-error handler must not swallow a delivery failure.
            try:
                box["result"] = await work(ctx, ctx.turn_state.get(self.adapter.BOT_CONNECTOR_CLIENT_KEY))
            except Exception as exc:  # noqa: BLE001 - translated below
                box["error"] = exc

        try:
            await self.adapter.continue_conversation(reference, logic, self.app_id)
        except Exception as exc:
            box.setdefault("error", exc)
        if "error" in box:
            raise translate(box["error"], doing) from None
        return box["result"]

    @staticmethod
    def _activity(card: dict[str, Any], msg: Message, reference: ConversationReference, conversation_id: str
                  ) -> Activity:
        activity = Activity(type=ActivityTypes.message, summary=cards.summary(msg),
                            attachments=[Attachment(content_type=cards.CONTENT_TYPE, content=card)])
        TurnContext.apply_conversation_reference(activity, reference)
        # A copy: the reference's own account must keep pointing at the conversation, not the thread.
        activity.conversation = copy.copy(reference.conversation)
        activity.conversation.id = conversation_id
        activity.reply_to_id = None
        return activity

    async def _post(self, reference: ConversationReference, conversation_id: str, card: dict[str, Any],
                    msg: Message) -> str:
        async def work(ctx: TurnContext, client: Any) -> str:
            activity = self._activity(card, msg, reference, conversation_id)
            response = await client.conversations.send_to_conversation(conversation_id, activity)
            if response is None or not response.id:
                raise RetryLater("Teams accepted the message without an id", maybe_sent=True)
            return str(response.id)

        return await self._with_client(reference, "send_to_conversation", work)

    async def _update(self, reference: ConversationReference, conversation_id: str, activity_id: str,
                      card: dict[str, Any], msg: Message) -> None:
        async def work(ctx: TurnContext, client: Any) -> None:
            activity = self._activity(card, msg, reference, conversation_id)
            activity.id = activity_id
            await client.conversations.update_activity(conversation_id, activity_id, activity)

        await self._with_client(reference, "update_activity", work)

    # --- where to send ---------------------------------------------------------------------

    def _load(self, fn: Callable[[Session], T]) -> T:
        with Session(self.engine) as s:
            return fn(s)

    def _missing(self, row: OutboxMessage, what: str) -> Exception:
        hint = ("add cxloop to the team or chat (docs/teams-setup.md), or check `teams_channel` in the "
                "workspace YAML")
        if utcnow() - row.created_at >= self.install_grace:
            return PermanentFailure(f"{what}: gave up after {self.install_grace}; {hint}")
        return RetryLater(f"{what} yet: {hint}")

    async def _channel(self, row: OutboxMessage, conversation_id: str) -> tuple[ConversationReference, str]:
        found = await asyncio.to_thread(self._load, lambda s: self._ref_and_kind(s, conversation_id))
        if found is None:
            raise self._missing(row, f"cxloop has no conversation reference for Teams conversation {conversation_id}")
        return found

    @staticmethod
    def _ref_and_kind(s: Session, conversation_id: str) -> tuple[ConversationReference, str] | None:
        row = conversations.find(s, conversation_id)
        return (conversations.to_reference(row), row.kind) if row else None

    async def _personal(self, row: OutboxMessage) -> ConversationReference:
        teams_id = row.target
        found = await asyncio.to_thread(self._load, lambda s: conversations.personal(s, teams_id))
        if found is not None:
            return conversations.to_reference(found)
        return await self._open_personal(row, teams_id)

    async def _open_personal(self, row: OutboxMessage, teams_id: str) -> ConversationReference:
        """Open the person's 1:1 chat with cxloop, through a team they share with it."""
        roots = await asyncio.to_thread(self._load, conversations.team_roots)
        if not roots:
            raise self._missing(row, f"cxloop has no personal chat with Teams user {teams_id} and is in no team")
        for root in roots:
            team_ref = conversations.to_reference(root)

            async def lookup(ctx: TurnContext, client: Any, team: str = team_ref.conversation.id) -> Any:
                # Teams finds a team member by Entra object id as well as by 29: id.
                return await client.conversations.get_conversation_member(team, teams_id)

            try:
                member = await self._with_client(team_ref, "get_member", lookup)
            except PermanentFailure:
                continue  # not in this team
            params = ConversationParameters(
                is_group=False, bot=team_ref.bot, members=[ChannelAccount(id=member.id, name=member.name)],
                tenant_id=team_ref.conversation.tenant_id,
                channel_data={"tenant": {"id": team_ref.conversation.tenant_id}})
            opened: dict[str, str] = {}

            async def created(ctx: TurnContext) -> None:
                opened["id"] = ctx.activity.conversation.id

            try:
                await self.adapter.create_conversation(self.app_id, created, params, team_ref.channel_id,
                                                       team_ref.service_url)
            except Exception as exc:
                raise translate(exc, "create_conversation") from None
            user = ChannelAccount(id=member.id, name=member.name, aad_object_id=teams_id)

            def store(s: Session) -> ConversationReference:
                stored = conversations.remember_personal(s, conversation_id=opened["id"], user=user,
                                                         teams_id=teams_id, like=team_ref)
                return conversations.to_reference(stored)

            return await asyncio.to_thread(lambda: self._store(store))
        raise PermanentFailure(f"Teams user {teams_id} is in no team cxloop is in and has no chat with it; they "
                               "can open cxloop from Apps in Teams to get their messages")

    def _store(self, fn: Callable[[Session], T]) -> T:
        with session_scope(self.engine) as s:
            return fn(s)

    # --- the ChatPort ----------------------------------------------------------------------

    async def send(self, row: OutboxMessage, *, thread: Delivered | None, anchor: Delivered | None) -> Delivered:
        if row.action == "home":
            raise PermanentFailure("Teams has no App Home")
        msg = Message.model_validate(row.payload)
        if row.action == "update":
            if anchor is None:
                raise PermanentFailure("an edit with no message to edit")
            reference, _ = await self._channel(row, anchor.channel)
            await self._update(reference, anchor.channel, anchor.ref, cards.message_card(msg), msg)
            return anchor
        if row.action == "upload":
            # A picture (a digest's chart) for the message it threads under: a card of its own, in
            # that message's thread in a channel, or after it in a chat. Teams gives bots no file
            # upload in channels, so the picture travels inline (cards.py shrinks it to fit).
            if thread is None:
                raise PermanentFailure("a picture with no message to go with")
            reference, kind = await self._channel(row, thread.channel)
        elif row.action == "dm":
            reference, kind = await self._personal(row), "personal"
        else:
            reference, kind = await self._channel(row, row.target)
        conversation_id = reference.conversation.id
        if thread is not None and kind == "channel":
            conversation_id = conversations.thread_id(thread.channel, thread.ref)
        first: str | None = None
        for n, card in enumerate(cards.message_cards(msg)):
            try:
                posted = await self._post(reference, conversation_id, card, msg)
            except (RetryLater, PermanentFailure) as exc:
                if first is not None:
                    # Part of a long message went out: retrying would post it again.
                    log.error("teams: %s: part %d failed after part 1 went out: %s", row.dedupe_key, n + 1, exc)
                    break
                raise
            first = first or posted
        assert first is not None
        return Delivered(channel=conversation_id, ref=first)

    async def find_sent(self, row: OutboxMessage, *, thread: Delivered | None = None) -> Delivered | None:
        """Always None: the Bot Connector cannot read a channel back (that needs Graph permissions).

        So after a 502/504 or a timeout, the one case where Teams may have taken a message without
        saying so, the retry posts it again and Teams may show it twice; 429 and 412 never double.
        """
        return None
