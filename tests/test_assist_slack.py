"""The assistant wired into cxloop.

Real Bolt app over signed HTTP, the Slack stand-in, and the real `openai` client against the OpenAI
stand-in: the owner's "Draft a reply" dialog, themes on the alert, `/cx scores by theme`, and the
digest's summary.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlmodel import Session, func, select

from bot.cases import service as cases
from bot.cases.notify import publish_change
from bot.intake.store import record_response
from bot.intake.surveys import build_response
from bot.people.roster import actor_for, member_by_slack
from handlers.jobs import run_due
from standins.openai_api import OpenAIStandIn
from storage.db import session_scope
from storage.models import Case, OutboxMessage
from tests.harness import CxHarness, text_of

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
DRAFT = {"respond": "Thank you for telling us about the double charge.",
         "empathize": "Being charged twice is worrying. I'm truly sorry.",
         "solve": "I'll refund the second charge today.", "invite": "If there's anything else, tell me.",
         "verify": "If I refund it today and confirm by email, will that put things right?"}


@pytest.fixture
def ai() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn.in_thread() as stand_in:
        yield stand_in


def open_case(engine: Any, ws: Any, comment: str, *, owner: str = "U0ALICE") -> int:
    r = build_response({"source": "generic", "external_id": "r-1", "survey": "nps", "score": 1, "comment": comment,
                        "touchpoint": "phone", "responded_at": T0.isoformat()})
    cid = record_response(engine, ws, r, now=T0).case_id
    assert cid is not None
    with session_scope(engine) as s:
        ev = cases.take(s, actor_for(s, member_by_slack(s, owner)), cid, now=T0)
        publish_change(s, ws, cases.get_case(s, cid), ev)
    return cid


def dm(cx: CxHarness, user: str) -> tuple[str, dict[str, Any]]:
    channel = cx.slack._conversations[user]
    return channel, cx.slack.messages(channel)[-1]


async def click_in_view(cx: CxHarness, user: str, view: dict[str, Any], action_id: str) -> None:
    """A block_actions payload from a button inside an open modal, as Slack sends it."""
    raw = cx.sender.click_body(user, {"blocks": view["blocks"]}, action_id, channel="D0NONE")
    payload = json.loads(urllib.parse.parse_qs(raw.decode())["payload"][0])
    payload.pop("message"), payload.pop("channel")
    payload["container"] = {"type": "view", "view_id": view["id"]}
    payload["view"] = view
    await cx.sender.post(urllib.parse.urlencode({"payload": json.dumps(payload)}).encode(),
                         "application/x-www-form-urlencoded")
    await cx.rt.wait_idle()


def last_view(cx: CxHarness) -> dict[str, Any]:
    call = cx.slack.calls_to("views.update")[-1]
    return {**call.body["view"], "id": call.body["view_id"]}


async def test_the_owner_drafts_regenerates_and_discards_and_nothing_is_sent(engine: Any, ai: OpenAIStandIn) -> None:
    env = {"openai_api_key": "sk-test", "openai_base_url": ai.base_url, "openai_model": "gpt-4o-mini"}
    async with CxHarness(engine, env=env) as cx:
        cid = open_case(engine, cx.ws, "Charged twice this month. Call me on 07700 900461.")
        await cx.deliver()
        assert "🏷 Billing" in text_of(cx.alert(cid))  # the alert shows the themes
        channel, owner_dm = dm(cx, "U0ALICE")
        assert "case_draft_reply" in text_of(owner_dm)
        with Session(engine) as s:
            case_before = s.get(Case, cid).model_dump()  # type: ignore[union-attr]
            outbox_before = s.exec(select(func.count()).select_from(OutboxMessage)).one()

        ai.queue(DRAFT)
        await cx.click("U0ALICE", owner_dm, "case_draft_reply", channel=channel)
        assert "Drafting a reply" in json.dumps(cx.last_modal())
        view = last_view(cx)
        box = view["blocks"][-1]["element"]
        assert box["initial_value"].startswith("Hello,\n\nThank you for telling us about the double charge.")
        assert "Drafted with gpt-4o-mini" in json.dumps(view["blocks"])
        assert "07700" not in ai.chat_requests[-1].text

        ai.queue({**DRAFT, "solve": "I'll refund the second charge and add a credit for the trouble."})
        await click_in_view(cx, "U0ALICE", view, "draft_regenerate")
        regenerated = last_view(cx)
        assert "add a credit" in regenerated["blocks"][-1]["element"]["initial_value"]
        assert json.loads(ai.chat_requests[-1].messages[1]["content"])["data"]["attempt"] == 2

        await click_in_view(cx, "U0ALICE", regenerated, "draft_discard")
        assert "Draft discarded. Nothing was sent" in json.dumps(last_view(cx)["blocks"])

        await cx.deliver()
        with Session(engine) as s:
            assert s.get(Case, cid).model_dump() == case_before  # type: ignore[union-attr]
            assert s.exec(select(func.count()).select_from(OutboxMessage)).one() == outbox_before


async def test_someone_else_cannot_draft_and_without_a_key_the_draft_is_offline(engine: Any) -> None:
    async with CxHarness(engine) as cx:
        cid = open_case(engine, cx.ws, "Parcel left in the rain.")
        await cx.deliver()
        channel, owner_dm = dm(cx, "U0ALICE")
        await cx.click("U0BOB", owner_dm, "case_draft_reply", channel=channel)
        assert not cx.slack.calls_to("views.open")
        assert any("Only the case owner" in c.body.get("text", "") for c in cx.slack.calls_to("chat.postMessage"))
        await cx.click("U0ALICE", owner_dm, "case_draft_reply", channel=channel)
        view = last_view(cx)
        assert "Drafted offline (no OpenAI key)" in json.dumps(view["blocks"])
        assert "delivery" in view["blocks"][-1]["element"]["initial_value"] and cid


async def test_scores_by_theme_and_the_digest_summary(engine: Any) -> None:
    async with CxHarness(engine) as cx:
        cx.clock.now = T0
        open_case(engine, cx.ws, "Charged twice this month.")
        summary = await run_due(cx.engine, cx.ws, cx.settings, at=T0, deliverer=cx.deliverer)
        assert summary["queued"]["assist"] == 1  # the new comment, classified offline (no key)
        cx.clock.now = T0 + timedelta(hours=1)
        reply = await cx.command("U0MANAGER", "scores 30d by theme")
        assert "billing" in json.dumps(reply.json()) and "counts under each of its themes" in json.dumps(reply.json())
        cx.clock.now = T0 + timedelta(days=7)
        preview = await cx.command("U0MANAGER", "digest preview support")
        text = json.dumps(preview.json())
        assert "This week" in text and "Charged twice this month." in text and "Summarised offline" in text
