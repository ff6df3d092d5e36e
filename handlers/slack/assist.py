"""Slack's "Draft a reply" dialog: it opens at once (a trigger lasts three seconds; a model may take
longer) and is filled in when the draft is ready, with Regenerate and Discard. Who may ask, and what
is drafted from, is the core's (bot/assist/actions.py). Nothing here sends anything to a customer,
and nothing changes the case.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session

from bot.assist import DraftInput
from bot.assist.actions import draft_input
from bot.assist.messages import AssistAction, discarded_form, draft_form, drafting_form
from bot.assist.service import assistant_for
from bot.chat.interactions import case_id
from bot.errors import CxError
from bot.machinery.runtime import Runtime
from handlers.slack import render
from handlers.slack.common import action_value, actor_of, tell, tracked

log = logging.getLogger(__name__)


def register(app: AsyncApp, rt: Runtime) -> None:
    """Attach the draft-reply listeners to `app`."""

    def load(user: str, cid: int) -> DraftInput:
        def work(session: Session) -> DraftInput:
            return draft_input(session, rt, actor_of(session, user), cid)

        return rt.transaction(work)

    async def fill(client: AsyncWebClient, view_id: str, cid: int, inp: DraftInput, variant: int) -> None:
        assistant = assistant_for(rt.settings, rt.engine, rt.workspace)
        draft = await asyncio.to_thread(assistant.draft_reply, inp, variant=variant)
        try:
            await client.views_update(view_id=view_id, view=render.modal(draft_form(cid, draft)))
        except SlackApiError as exc:  # closed before the draft was ready: nothing to show it in
            log.info("draft for case %s not shown: %s", cid, exc.response.get("error"))

    async def prepared(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> tuple[int, DraftInput] | None:
        """Acknowledge the click, then what a draft needs (None when refused: the clicker was told why)."""
        await ack()
        user = body["user"]["id"]
        try:
            cid = case_id(action_value(body))
            return cid, await asyncio.to_thread(load, user, cid)
        except CxError as exc:
            await tell(client, user, None, str(exc))
            return None

    @app.action(AssistAction.DRAFT.value)
    @tracked(rt)
    async def on_draft(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        if (ready := await prepared(ack, body, client)) is None:
            return
        cid, inp = ready
        opened = await client.views_open(trigger_id=body["trigger_id"], view=render.modal(drafting_form(cid)))
        await fill(client, opened["view"]["id"], cid, inp, 0)

    @app.action(AssistAction.REGENERATE.value)
    @tracked(rt)
    async def on_regenerate(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        if (ready := await prepared(ack, body, client)) is None:
            return
        cid, inp = ready
        try:
            variant = int(action_value(body).get("variant", 1))
        except (TypeError, ValueError):
            variant = 1
        view_id = body["view"]["id"]
        await client.views_update(view_id=view_id, view=render.modal(drafting_form(cid)))
        await fill(client, view_id, cid, inp, variant)

    @app.action(AssistAction.DISCARD.value)
    @tracked(rt)
    async def on_discard(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        try:
            cid = case_id(action_value(body))
        except CxError:
            return
        await client.views_update(view_id=body["view"]["id"], view=render.modal(discarded_form(cid)))
