"""Slack listeners for the assistant: the owner's "Draft a reply" dialog (Regenerate, Discard, Done).

The dialog opens at once (a trigger lasts three seconds; a model may take longer) and is filled in
when the draft is ready. Nothing here sends anything to a customer, and nothing changes the case.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session

from bot.cases import service as cases
from bot.assist import DraftInput
from bot.assist.messages import AssistAction, AssistForm, discarded_form, draft_form, drafting_form
from bot.assist.service import assistant_for
from bot.errors import CxError
from bot.people.roster import actor_for, member_by_slack
from bot.machinery.runtime import Runtime
from handlers.slack import render

log = logging.getLogger(__name__)


def _value(body: dict[str, Any]) -> dict[str, Any]:
    return json.loads(body["actions"][0].get("value") or "{}")


def register(app: AsyncApp, rt: Runtime) -> None:
    """Attach the draft-reply listeners to `app`."""

    def tracked(fn):  # type: ignore[no-untyped-def]
        @functools.wraps(fn)
        async def wrapper(**kwargs: Any) -> Any:
            async with rt.track():
                return await fn(**kwargs)
        return wrapper

    def draft_input(user: str, cid: int) -> DraftInput:
        """What to draft from, once the clicking user is found to be the owner or a team manager."""
        def load(session: Session) -> DraftInput:
            actor = actor_for(session, member_by_slack(session, user))
            cases._require_worker(actor, cases.get_case(session, cid), "draft a reply")
            return DraftInput.from_view(cases.load_view(session, rt.workspace, cid))

        return rt.transaction(load)

    async def tell(client: AsyncWebClient, user: str, text: str) -> None:
        try:
            await client.chat_postMessage(channel=user, text=render.safe(text))
        except Exception:
            log.exception("could not tell %s: %s", user, text)

    async def fill(client: AsyncWebClient, view_id: str, cid: int, inp: DraftInput, variant: int) -> None:
        assistant = assistant_for(rt.settings, rt.engine, rt.workspace)
        draft = await asyncio.to_thread(assistant.draft_reply, inp, variant=variant)
        try:
            await client.views_update(view_id=view_id, view=render.modal(draft_form(cid, draft)))
        except SlackApiError as exc:  # closed before the draft was ready: nothing to show it in
            log.info("draft for case %s not shown: %s", cid, exc.response.get("error"))

    @app.action(AssistAction.DRAFT.value)
    @tracked
    async def on_draft(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user, cid = body["user"]["id"], int(_value(body)["case"])
        try:
            inp = await asyncio.to_thread(draft_input, user, cid)
        except CxError as exc:
            await tell(client, user, str(exc))
            return
        opened = await client.views_open(trigger_id=body["trigger_id"], view=render.modal(drafting_form(cid)))
        await fill(client, opened["view"]["id"], cid, inp, 0)

    @app.action(AssistAction.REGENERATE.value)
    @tracked
    async def on_regenerate(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        value = _value(body)
        user, cid, variant = body["user"]["id"], int(value["case"]), int(value.get("variant", 1))
        try:
            inp = await asyncio.to_thread(draft_input, user, cid)
        except CxError as exc:
            await tell(client, user, str(exc))
            return
        view_id = body["view"]["id"]
        await client.views_update(view_id=view_id, view=render.modal(drafting_form(cid)))
        await fill(client, view_id, cid, inp, variant)

    @app.action(AssistAction.DISCARD.value)
    @tracked
    async def on_discard(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        cid = int(_value(body)["case"])
        await client.views_update(view_id=body["view"]["id"], view=render.modal(discarded_form(cid)))

    @app.view(AssistForm.DRAFT.value)
    async def on_done(ack: AsyncAck) -> None:
        # "Done" only closes the dialog: the owner sends the reply themselves; nothing is stored or sent.
        await ack()
