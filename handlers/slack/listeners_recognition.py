"""Slack listeners for recognition: approving customer shout-outs, the pledge, customer stories."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session

from bot.recognition import csweek
from bot.recognition import shoutouts as recognition
from bot.errors import BadInput, CxError
from bot.recognition import messages as rm
from bot.recognition.messages import RecognitionAction, RecognitionForm
from bot.people.roster import Actor, actor_for, member_by_slack
from bot.machinery.runtime import Runtime
from handlers.slack import render

log = logging.getLogger(__name__)


def _value(body: dict[str, Any]) -> dict[str, Any]:
    """The typed metadata carried in the clicked button's value."""
    return json.loads(body["actions"][0].get("value") or "{}")


def _channel(body: dict[str, Any]) -> str | None:
    return (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")


async def _tell(client: AsyncWebClient, user: str, channel: str | None, text: str) -> None:
    """An ephemeral answer where the person clicked (a DM when there is no channel)."""
    try:
        if channel:
            await client.chat_postEphemeral(channel=channel, user=user, text=render.safe(text))
        else:
            await client.chat_postMessage(channel=user, text=render.safe(text))
    except Exception:  # the answer failing must not hide what happened
        log.exception("could not tell %s: %s", user, text)


def register(app: AsyncApp, rt: Runtime) -> None:
    """Attach the recognition and Customer Service Week listeners to `app`."""

    def tracked(fn):  # type: ignore[no-untyped-def]
        @functools.wraps(fn)
        async def wrapper(**kwargs: Any) -> Any:
            async with rt.track():
                return await fn(**kwargs)
        return wrapper

    def actor_of(session: Session, user_id: str) -> Actor:
        return actor_for(session, member_by_slack(session, user_id))

    async def run(body: dict[str, Any], client: AsyncWebClient, fn) -> None:  # type: ignore[no-untyped-def]
        """Do `fn(session, actor) -> answer` as the clicking user; tell them the answer or why not."""
        user = body["user"]["id"]

        def work(session: Session) -> str:
            return fn(session, actor_of(session, user))

        try:
            answer = await asyncio.to_thread(rt.transaction, work)
        except CxError as exc:
            answer = str(exc)
        await _tell(client, user, _channel(body), answer)

    # --- customer shout-outs waiting for a manager -----------------------------------------

    @app.action(RecognitionAction.APPROVE.value)
    @tracked
    async def on_approve(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        sid = int(_value(body)["shoutout"])

        def approve(s: Session, actor: Actor) -> str:
            row = recognition.decide_shoutout(s, rt.workspace, actor, sid, approve=True, now=rt.now())
            return f"Posted in the {recognition.team_title(rt.workspace, row.team or '')} channel."

        await run(body, client, approve)

    @app.action(RecognitionAction.SKIP.value)
    @tracked
    async def on_skip(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        sid = int(_value(body)["shoutout"])

        def skip(s: Session, actor: Actor) -> str:
            recognition.decide_shoutout(s, rt.workspace, actor, sid, approve=False, now=rt.now())
            return "Skipped: that shout-out won't be posted."

        await run(body, client, skip)

    # --- Customer Service Week -------------------------------------------------------------

    @app.action(RecognitionAction.PLEDGE.value)
    @tracked
    async def on_pledge(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        v = _value(body)
        await run(body, client, lambda s, a: csweek.take_pledge(s, rt.workspace, a, year=int(v["year"]),
                                                                 team=str(v["team"]), now=rt.now()))

    @app.action(RecognitionAction.STORY.value)
    @tracked
    async def on_story(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        v = _value(body)
        user = body["user"]["id"]
        try:
            form = await asyncio.to_thread(rt.transaction, lambda s: csweek.story_form(
                rt.workspace, actor_of(s, user), year=int(v["year"]), team=str(v["team"]), now=rt.now(),
                channel=_channel(body)))
        except CxError as exc:
            await _tell(client, user, _channel(body), str(exc))
            return
        await client.views_open(trigger_id=body["trigger_id"], view=render.modal(form))

    @app.view(RecognitionForm.STORY.value)
    @tracked
    async def on_story_submit(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        meta = json.loads(body["view"].get("private_metadata") or "{}")
        year, team, channel = int(meta["year"]), str(meta["team"]), meta.get("channel")
        values = render.form_values(rm.story_form(year, team).inputs, body["view"]["state"]["values"])
        user = body["user"]["id"]

        def work(s: Session) -> None:
            csweek.share_story(s, rt.workspace, actor_of(s, user), year=year, team=team, text=values.get("story"),
                               now=rt.now())

        try:
            await asyncio.to_thread(rt.transaction, work)
        except CxError as exc:
            field = exc.field if isinstance(exc, BadInput) and exc.field else "story"
            await ack(response_action="errors", errors={field: str(exc)[:150]})
            return
        await ack()
        await _tell(client, user, channel, "📖 Thank you! Your story is in the thread.")
