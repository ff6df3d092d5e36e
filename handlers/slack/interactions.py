"""Slack's side of chat interactions: every registered button and form, through one pair of listeners.

What each does is the core's (each feature's `actions.py`, bot/chat/interactions.py). Here a click
becomes a neutral `Click` (the picked Slack user becomes a member), runs in one transaction, and
its outcome is rendered: a form opens as a modal while the trigger is fresh, an answer goes to the
clicker alone (ephemeral), and a refusal says why. A submitted modal's errors go back in the HTTP
response, next to their field.
"""

from __future__ import annotations

import json
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session

from bot.chat import interactions
from bot.chat.interactions import Click, Done, Outcome, Place, Submission
from bot.chat.messages import Form, Message
from bot.errors import BadInput, CxError
from bot.machinery.runtime import Runtime
from bot.people.roster import member_by_slack
from handlers.slack import render
from handlers.slack.common import action_value, actor_of, channel_of, tell, tracked

# Answered by a listener of their own: Slack can fill a dialog in after it opens (handlers/slack/assist.py).
SLACK_OWN = {"case_draft_reply", "draft_regenerate", "draft_discard"}
MODAL_ERROR = 150  # Slack shows at most this much of an error under a field


def _pattern(ids: frozenset[str]) -> re.Pattern[str]:
    # render.py numbers a repeated action id in one block ("case_step:1"): the same action.
    return re.compile(r"^(" + "|".join(re.escape(i) for i in sorted(ids)) + r")(:\d+)?$")


def _click(session: Session, rt: Runtime, body: dict[str, Any]) -> Click:
    action = body["actions"][0]
    picked = choice = None
    if action.get("type") in ("users_select", "conversations_select") and action.get("selected_user"):
        picked = member_by_slack(session, str(action["selected_user"]))
    elif action.get("selected_option"):
        choice = str(action["selected_option"].get("value"))
    return Click(rt=rt, actor=actor_of(session, body["user"]["id"]), value=action_value(body), picked=picked,
                 choice=choice, place=Place("slack", channel_of(body)))


async def show(client: AsyncWebClient, body: dict[str, Any], outcome: Outcome) -> None:
    """Render an outcome for the person who clicked."""
    user, channel = body["user"]["id"], channel_of(body)
    if isinstance(outcome, Form):
        await client.views_open(trigger_id=body["trigger_id"], view=render.modal(outcome))
    elif isinstance(outcome, Message):
        await tell(client, user, channel, message=render.message(outcome))
    elif isinstance(outcome, str):
        await tell(client, user, channel, outcome)
    # Done and None: the change shows itself (the alert is edited), nothing more to say.


def clicks() -> re.Pattern[str]:
    """The action ids `run_click` answers: every registered action but Slack's own."""
    return _pattern(interactions.actions() - SLACK_OWN)


async def run_click(rt: Runtime, body: dict[str, Any], client: AsyncWebClient) -> None:
    """A click, after its acknowledgement: the action in one transaction, then its outcome shown.
    Bolt's listener calls this, and so does the inbox worker for a stored click (handlers/slack/direct.py)."""
    action_id = body["actions"][0]["action_id"].split(":")[0]

    def work(session: Session) -> Outcome:
        return interactions.run_action(session, _click(session, rt, body), action_id)

    try:
        outcome = await rt.after_ack(rt.transaction, work)
    except CxError as exc:
        await tell(client, body["user"]["id"], channel_of(body), str(exc))
        return
    await show(client, body, outcome)


def register(app: AsyncApp, rt: Runtime) -> None:
    """One listener for every registered action, one for every registered form."""

    @app.action(clicks())
    @tracked(rt)
    async def on_click(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await run_click(rt, body, client)

    @app.view(_pattern(interactions.forms()))
    @tracked(rt)
    async def on_submit(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        view = body["view"]
        callback = view["callback_id"]
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            meta = {}
        shown: dict[str, Form] = {}

        def work(session: Session) -> Outcome:
            form = interactions.rebuild_form(session, rt, callback, meta if isinstance(meta, dict) else {})
            shown["form"] = form
            values = render.form_values(form.inputs, view["state"]["values"])
            sub = Submission(rt=rt, actor=actor_of(session, body["user"]["id"]), meta=form.metadata, values=values,
                             place=Place("slack", meta.get("channel") if isinstance(meta, dict) else None))
            return interactions.run_form(session, sub, callback)

        try:
            # Slack waits for this answer (its errors are the response): the acknowledgement pool.
            outcome = await rt.for_ack(rt.transaction, work)
        except CxError as exc:
            form = shown.get("form")
            ids = [i.id for i in form.inputs] if form else []
            field = exc.field if isinstance(exc, BadInput) and exc.field in ids else (ids[0] if ids else None)
            if field is None:
                await ack()
                await tell(client, body["user"]["id"], None, str(exc))
                return
            await ack(response_action="errors", errors={field: str(exc)[:MODAL_ERROR]})
            if len(str(exc)) > MODAL_ERROR:
                await tell(client, body["user"]["id"], None, str(exc))  # the whole message, not cut
            return
        if isinstance(outcome, Form):
            await ack(response_action="update", view=render.modal(outcome))
            return
        await ack()
        if isinstance(outcome, Done):
            return
        if outcome is not None:
            await show(client, {"user": body["user"], "channel": {"id": meta.get("channel")}}, outcome)
