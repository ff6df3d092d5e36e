"""Slack listeners: parse the request, call the core, answer. No business rules here."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from datetime import datetime, timezone
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session

from bot.cases import messages as cm
from bot.cases import service as cases
from bot.console import registry as commands
from bot.cases.enums import CaseAction, CaseForm
from bot.errors import BadInput, CxError
from bot.chat.messages import Form, Message
from bot.cases.notify import publish_change
from bot.cases.resolved import ResolvedStep
from bot.people.roster import actor_for, member_by_id, member_by_slack, person_ref
from bot.machinery.runtime import Runtime
from handlers.slack import render
from storage.models import ProcessedEvent

log = logging.getLogger(__name__)


def _action_value(body: dict[str, Any]) -> dict[str, Any]:
    """The typed metadata of the clicked element (button value or the block's context)."""
    action = body["actions"][0]
    if action.get("type") == "button":
        return json.loads(action.get("value") or "{}")
    block_id = action.get("block_id", "")
    return json.loads(block_id[4:]) if block_id.startswith("ctx:") else {}


def _channel(body: dict[str, Any]) -> str | None:
    return (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")


async def _tell(client: AsyncWebClient, body: dict[str, Any], text: str) -> None:
    """An ephemeral answer to whoever clicked, where they clicked."""
    user = body["user"]["id"]
    channel = _channel(body)
    try:
        if channel:
            await client.chat_postEphemeral(channel=channel, user=user, text=render.safe(text))
        else:
            await client.chat_postMessage(channel=user, text=render.safe(text))
    except Exception:  # the refusal itself failing must not hide the original error
        log.exception("could not tell %s: %s", user, text)


def register(app: AsyncApp, rt: Runtime) -> None:
    """Attach every listener to `app`."""

    def tracked(fn):  # type: ignore[no-untyped-def]
        """Count a listener's work until it finishes, even after its ack has gone back to Slack."""
        @functools.wraps(fn)
        async def wrapper(**kwargs: Any) -> Any:
            async with rt.track():
                return await fn(**kwargs)
        return wrapper

    def actor_of(session: Session, user_id: str):  # type: ignore[no-untyped-def]
        return actor_for(session, member_by_slack(session, user_id))

    async def change(body: dict[str, Any], client: AsyncWebClient, fn) -> bool:  # type: ignore[no-untyped-def]
        """Apply a case change as the clicking user; tell them why if it is refused."""
        def work(session: Session) -> None:
            actor = actor_of(session, body["user"]["id"])
            event = fn(session, actor)
            case = cases.get_case(session, event.case_id)
            publish_change(session, rt.workspace, case, event)

        try:
            await rt.after_ack(rt.transaction, work)
            return True
        except CxError as exc:
            await _tell(client, body, str(exc))
            return False

    async def open_form(body: dict[str, Any], client: AsyncWebClient, build) -> None:  # type: ignore[no-untyped-def]
        """Check the user may act, then open the form while the trigger is fresh."""
        def prepare(session: Session) -> Form:
            actor = actor_of(session, body["user"]["id"])
            return build(session, actor)

        try:
            form = await rt.after_ack(rt.transaction, prepare)
        except CxError as exc:
            await _tell(client, body, str(exc))
            return
        await client.views_open(trigger_id=body["trigger_id"], view=render.modal(form))

    # --- buttons and pickers ---------------------------------------------------------------

    @app.action(CaseAction.TAKE.value)
    @tracked
    async def on_take(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        cid = int(_action_value(body)["case"])
        await change(body, client, lambda s, a: cases.take(s, a, cid, now=rt.now()))

    @app.action(CaseAction.ASSIGN.value)
    @tracked
    async def on_assign(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        cid = int(_action_value(body)["case"])
        picked = body["actions"][0]["selected_user"]
        await change(body, client,
                     lambda s, a: cases.assign(s, a, cid, member_by_slack(s, picked), now=rt.now()))

    @app.action(CaseAction.REASSIGN.value)
    @tracked
    async def on_reassign(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        cid = int(_action_value(body)["case"])
        picked = body["actions"][0]["selected_user"]

        def build(s: Session, actor) -> Form:  # type: ignore[no-untyped-def]
            assignee = member_by_slack(s, picked)
            cases.check_assign(s, actor, cases.get_case(s, cid), assignee)
            return cm.reassign_form(cid, person_ref(assignee))

        await open_form(body, client, build)

    @app.action(CaseAction.DISMISS.value)
    @tracked
    async def on_dismiss(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        cid = int(_action_value(body)["case"])

        def build(s: Session, actor) -> Form:  # type: ignore[no-untyped-def]
            case = cases.get_case(s, cid)
            cases._require_active(case, "close it")
            if not (case.owner_id == actor.id or actor.manages_team(case.team)):
                raise cases.NotAllowed(f"Only the case owner or a manager of the {case.team} team can mark "
                                       f"case #{cid} not actionable.")
            return cm.dismiss_form(cid)

        await open_form(body, client, build)

    @app.action(re.compile(r"^case_step(:\d+)?$"))
    @tracked
    async def on_step(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        value = _action_value(body)
        cid, step = int(value["case"]), ResolvedStep(value["step"])

        def build(s: Session, actor) -> Form:  # type: ignore[no-untyped-def]
            case = cases.get_case(s, cid)
            cases._require_active(case, "tick steps")
            cases._require_worker(actor, case, "tick steps")
            view = cases.load_view(s, rt.workspace, cid)
            if step in view.done:
                raise cases.InvalidState(f"“{step.guide.title}” is already done on case #{cid}.")
            return cm.step_form(cid, step)

        await open_form(body, client, build)

    @app.action(CaseAction.CLOSE_LOOP.value)
    @tracked
    async def on_close_loop(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        cid = int(_action_value(body)["case"])

        def build(s: Session, actor) -> Form:  # type: ignore[no-untyped-def]
            case = cases.get_case(s, cid)
            cases._require_worker(actor, case, "close the loop")
            if case.status != "resolved":
                raise cases.InvalidState(f"Case #{cid} is not resolved yet.")
            return cm.close_loop_form(cid, rt.now())

        await open_form(body, client, build)

    @app.action(CaseAction.REOPEN.value)
    @tracked
    async def on_reopen(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        cid = int(_action_value(body)["case"])

        def build(s: Session, actor) -> Form:  # type: ignore[no-untyped-def]
            case = cases.get_case(s, cid)
            if not (case.owner_id == actor.id or actor.manages_team(case.team)):
                raise cases.NotAllowed(f"Only the case owner or a manager of the {case.team} team can reopen "
                                       f"case #{cid}.")
            return cm.reopen_form(cid)

        await open_form(body, client, build)

    @app.action(CaseAction.SNOOZE.value)
    @tracked
    async def on_snooze(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        cid = int(_action_value(body)["case"])

        def build(s: Session, actor) -> Form:  # type: ignore[no-untyped-def]
            case = cases.get_case(s, cid)
            cases._require_active(case, "snooze it")
            if not (case.owner_id == actor.id or actor.manages_team(case.team)):
                raise cases.NotAllowed(f"Only the case owner or a manager of the {case.team} team can snooze "
                                       f"case #{cid}.")
            return cm.snooze_form(cid)

        await open_form(body, client, build)

    @app.action(CaseAction.REMIND_OWNER.value)
    @tracked
    async def on_remind_owner(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        cid = int(_action_value(body)["case"])

        def work(session: Session) -> None:
            from bot.nudges.chase import ask_owner_for_update

            ask_owner_for_update(session, rt.workspace, actor_of(session, body["user"]["id"]), cid, now=rt.now())

        try:
            await rt.after_ack(rt.transaction, work)
            await _tell(client, body, f"Asked the owner of case #{cid} for an update.")
        except CxError as exc:
            await _tell(client, body, str(exc))

    # --- form submissions ------------------------------------------------------------------

    async def submit(ack: AsyncAck, body: dict[str, Any], form: Form, apply,  # type: ignore[no-untyped-def]
                     client: AsyncWebClient | None = None) -> None:
        """Validate and apply a submitted form; errors show inside the modal, next to the field."""
        values = render.form_values(form.inputs, body["view"]["state"]["values"])

        def work(session: Session) -> None:
            actor = actor_of(session, body["user"]["id"])
            event = apply(session, actor, values)
            publish_change(session, rt.workspace, cases.get_case(session, event.case_id), event)

        try:
            await rt.for_ack(rt.transaction, work)
        except CxError as exc:
            ids = [i.id for i in form.inputs]
            field = exc.field if isinstance(exc, BadInput) and exc.field in ids else ids[0]
            await ack(response_action="errors", errors={field: str(exc)[:150]})
            if len(str(exc)) > 150:
                # Modal errors are cut at 150 characters: the whole message goes to the user too.
                from handlers.slack.app import web_client

                await _tell(client or web_client(rt.settings.slack_bot_token, rt.settings.slack_api_url),
                            {"user": body["user"]}, str(exc))
            return
        await ack()

    def meta(body: dict[str, Any]) -> dict[str, Any]:
        return json.loads(body["view"].get("private_metadata") or "{}")

    @app.view(CaseForm.STEP.value)
    @tracked
    async def on_step_submit(ack: AsyncAck, body: dict[str, Any]) -> None:
        m = meta(body)
        cid, step = int(m["case"]), ResolvedStep(m["step"])
        form = cm.step_form(cid, step)
        await submit(ack, body, form, lambda s, a, v: cases.tick_step(
            s, a, cid, step, note=v.get("note"), customer_agreed=v.get("customer_agreed"),
            root_cause=v.get("root_cause"), now=rt.now()))

    @app.view(CaseForm.DISMISS.value)
    @tracked
    async def on_dismiss_submit(ack: AsyncAck, body: dict[str, Any]) -> None:
        cid = int(meta(body)["case"])
        await submit(ack, body, cm.dismiss_form(cid),
                     lambda s, a, v: cases.dismiss(s, a, cid, reason=v.get("reason") or "", now=rt.now()))

    @app.view(CaseForm.REOPEN.value)
    @tracked
    async def on_reopen_submit(ack: AsyncAck, body: dict[str, Any]) -> None:
        cid = int(meta(body)["case"])
        await submit(ack, body, cm.reopen_form(cid),
                     lambda s, a, v: cases.reopen(s, a, cid, reason=v.get("reason") or "", now=rt.now()))

    @app.view(CaseForm.REASSIGN.value)
    @tracked
    async def on_reassign_submit(ack: AsyncAck, body: dict[str, Any]) -> None:
        m = meta(body)
        cid, assignee = int(m["case"]), int(m["assignee"])
        form = cm.reassign_form(cid, None)
        await submit(ack, body, form, lambda s, a, v: cases.assign(
            s, a, cid, member_by_id(s, assignee), reason=v.get("reason"), now=rt.now()))

    @app.view(CaseForm.SNOOZE.value)
    @tracked
    async def on_snooze_submit(ack: AsyncAck, body: dict[str, Any]) -> None:
        from bot.config import parse_duration

        cid = int(meta(body)["case"])

        def apply(s: Session, a, v: dict[str, Any]):  # type: ignore[no-untyped-def]
            case = cases.get_case(s, cid)
            sla = rt.workspace.sla_for(case.team) if case.team in {t.key for t in rt.workspace.teams} else rt.workspace.sla
            choice = v.get("for") or ""
            try:
                until = rt.now() + parse_duration(choice)
            except ValueError:
                raise BadInput("Choose how long to snooze for.", field="for") from None
            return cases.snooze(s, a, cid, until=until, reason=v.get("reason") or "", max_snooze=sla.snooze_max,
                                now=rt.now())

        await submit(ack, body, cm.snooze_form(cid), apply)

    @app.view(CaseForm.CLOSE_LOOP.value)
    @tracked
    async def on_close_loop_submit(ack: AsyncAck, body: dict[str, Any]) -> None:
        cid = int(meta(body)["case"])
        form = cm.close_loop_form(cid, rt.now())

        def apply(s: Session, a, v: dict[str, Any]):  # type: ignore[no-untyped-def]
            when = datetime.fromtimestamp(int(v["when"]), tz=timezone.utc) if v.get("when") else None
            return cases.close_loop(s, a, cid, how=v.get("how") or "", when=when, note=v.get("note"), now=rt.now())

        await submit(ack, body, form, apply)

    # --- events ----------------------------------------------------------------------------

    @app.middleware
    async def once_per_event(body: dict[str, Any], context: AsyncBoltContext, next) -> None:  # type: ignore[no-untyped-def]
        """Slack redelivers events it thinks were missed; handle each event id once."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id:
            def seen(session: Session) -> bool:
                from sqlmodel import select
                if session.exec(select(ProcessedEvent.id).where(ProcessedEvent.source == "slack",
                                                                ProcessedEvent.event_id == event_id)).first():
                    return True
                session.add(ProcessedEvent(source="slack", event_id=event_id))
                return False

            try:
                if await asyncio.to_thread(rt.transaction, seen):
                    from slack_bolt.response import BoltResponse
                    return BoltResponse(status=200, body="")
            except Exception:
                log.exception("could not record event %s", event_id)
        return await next()

    @app.event("app_home_opened")
    @tracked
    async def on_home(event: dict[str, Any], client: AsyncWebClient) -> None:
        from bot.console.home import home_view

        user = event["user"]

        def build(session: Session) -> Message:
            return home_view(session, rt.workspace, actor_of(session, user), now=rt.now())

        msg = await rt.after_ack(rt.transaction, build)
        await client.views_publish(user_id=user, view={"type": "home", "blocks": render.blocks(msg.blocks)})

    # --- /cx -------------------------------------------------------------------------------

    @app.command("/cx")
    @tracked
    async def on_cx(ack: AsyncAck, body: dict[str, Any], respond) -> None:  # type: ignore[no-untyped-def]
        # Slack gets its acknowledgement at once; the answer follows on the command's response_url,
        # so no query, however slow, can push the ack past Slack's 3 seconds.
        await ack()
        text = body.get("text") or ""
        user = body["user_id"]

        def run(session: Session) -> commands.Reply:
            actor = actor_of(session, user)
            return commands.dispatch(session, rt.workspace, actor, text, now=rt.now())

        try:
            reply = await rt.after_ack(rt.transaction, run)
        except CxError as exc:
            await respond(response_type="ephemeral", text=render.safe(str(exc)))
            return
        await respond(response_type="in_channel" if reply.public else "ephemeral", **render.message(reply.message))


