"""Only Teams, only our tenant, only real people: activities with a good token that cxloop still refuses."""

from __future__ import annotations

import copy
import logging
from typing import Any

from sqlmodel import Session, func, select

from bot.intake.store import record_response
from standins.teams_cards import text_of
from storage.models import (
    AuditEntry,
    ConversationRef,
    Member,
    OutboxMessage,
    ProcessedEvent,
)
from tests.teams_harness import ALICE, BOB, PEOPLE, SUPPORT, TeamsHarness
from tests.test_teams_flow import detractor

ADMIN = PEOPLE["U0ADMIN"][0]


def state(engine) -> dict[str, Any]:
    """Everything an activity could change: stored references, handled ids, people, roles, audit, outbox."""
    with Session(engine) as s:
        return {
            "refs": sorted((r.conversation_id, r.updated_at.isoformat()) for r in s.exec(select(ConversationRef))),
            "events": s.exec(select(func.count(ProcessedEvent.id))).one(),
            "members": sorted((m.id, m.teams_user_id, m.role) for m in s.exec(select(Member))),
            "audit": s.exec(select(func.count(AuditEntry.id))).one(),
            "outbox": s.exec(select(func.count(OutboxMessage.id))).one(),
        }


def bot_replies(cx: TeamsHarness) -> int:
    return len(cx.teams.calls_to("send")) + len(cx.teams.calls_to("reply"))


async def setup(cx: TeamsHarness, engine) -> tuple[str, dict[str, Any]]:
    """A case, the admin's personal chat, and `@cxloop cx role @Bob admin` in the support channel as Teams sends it."""
    await cx.install()
    record_response(engine, cx.ws, detractor())
    await cx.deliver()
    chat = await cx.teams.install_personal(cx.bot_url, ADMIN)
    bob, bot = cx.teams.users[BOB], {"id": cx.teams.bot_id, "name": cx.teams.bot_name}
    activity = cx.teams.envelope(cx.teams.users[ADMIN], SUPPORT, type="message", textFormat="plain",
                                 text="<at>cxloop</at> cx role <at>Bob Okafor</at> admin")
    activity["entities"] = [{"type": "mention", "text": "<at>cxloop</at>", "mentioned": bot},
                            {"type": "mention", "text": "<at>Bob Okafor</at>",
                             "mentioned": {"id": bob.id, "name": bob.name}}] + activity["entities"]
    return chat, activity


async def refused(cx: TeamsHarness, engine, activity: dict[str, Any], why: str, caplog) -> None:
    before, replies = state(engine), bot_replies(cx)
    caplog.clear()
    status, body = await cx.teams.post(cx.bot_url, activity)
    assert status == 403, (why, status, body)
    assert body["error"], why
    assert "teams: refused an activity" in caplog.text, why
    assert state(engine) == before, why
    assert bot_replies(cx) == replies, why


async def test_webchat_with_an_admins_id_as_from_id_is_refused_and_changes_nothing(engine, caplog):
    caplog.set_level(logging.WARNING)
    async with TeamsHarness(engine, welcome=False) as cx:
        chat, activity = await setup(cx, engine)
        for channel in ("webchat", "directline", "emulator"):
            forged = copy.deepcopy(activity)
            forged["channelId"] = channel
            # Direct Line lets the client choose from.id: the admin's object id, and no aadObjectId.
            forged["from"] = {"id": ADMIN, "name": "Ada Admin"}
            forged["id"] = f"forged-{channel}"
            await refused(cx, engine, forged, channel, caplog)
            assert "is not 'msteams'" in caplog.text
            # even with the admin's object id where Teams puts it
            forged["from"]["aadObjectId"] = ADMIN
            forged["text"] = "cx case 1"
            await refused(cx, engine, forged, channel, caplog)
        assert cx.teams.activities(chat) == []


async def test_a_teams_activity_without_an_entra_object_id_is_refused_and_changes_nothing(engine, caplog):
    caplog.set_level(logging.WARNING)
    async with TeamsHarness(engine, welcome=False) as cx:
        chat, activity = await setup(cx, engine)
        no_aad = copy.deepcopy(activity)
        no_aad["from"] = {"id": ADMIN, "name": "Ada Admin"}  # the old fallback read this as the admin
        await refused(cx, engine, no_aad, "no aadObjectId", caplog)
        assert "without from.aadObjectId" in caplog.text
        blank = copy.deepcopy(activity)
        blank["from"]["aadObjectId"] = "  "
        await refused(cx, engine, blank, "blank aadObjectId", caplog)
        # a button click (task/fetch) as well as a message
        click = cx.teams.envelope(cx.teams.users[ALICE], SUPPORT, type="invoke", name="task/fetch",
                                  value={"data": {"cx_action": "case_take", "cx_value": {"case": 1}}})
        del click["from"]["aadObjectId"]
        await refused(cx, engine, click, "click without aadObjectId", caplog)
        with Session(engine) as s:
            assert s.exec(select(Member).where(Member.teams_user_id == BOB)).one().role == "agent"


async def test_a_missing_or_other_tenant_is_refused_and_changes_nothing(engine, caplog):
    caplog.set_level(logging.WARNING)
    async with TeamsHarness(engine, welcome=False) as cx:
        chat, activity = await setup(cx, engine)
        missing = copy.deepcopy(activity)
        del missing["channelData"]["tenant"]
        del missing["conversation"]["tenantId"]
        await refused(cx, engine, missing, "no tenant", caplog)
        assert "names no tenant" in caplog.text
        other = "99999999-0000-4000-8000-000000000000"
        for where in ("channelData", "conversation"):
            mixed = copy.deepcopy(activity)
            if where == "channelData":
                mixed["channelData"]["tenant"]["id"] = other
            else:
                mixed["conversation"]["tenantId"] = other
            await refused(cx, engine, mixed, f"other tenant in {where}", caplog)
            assert other in caplog.text
        only_one = copy.deepcopy(activity)
        del only_one["conversation"]["tenantId"]
        only_one["channelData"]["tenant"]["id"] = other
        await refused(cx, engine, only_one, "other tenant, channelData only", caplog)


async def test_the_same_command_from_teams_itself_is_served(engine):
    async with TeamsHarness(engine, welcome=False) as cx:
        await setup(cx, engine)
        status, _ = await cx.teams.message(cx.bot_url, ADMIN, "cx role @Bob Okafor admin", conversation=SUPPORT,
                                           mentions=[BOB])
        assert status == 200
        (answer,) = cx.teams.thread(SUPPORT, cx.teams.posts(SUPPORT)[-1]["id"])
        assert "is now admin (was agent)" in text_of(answer)
        with Session(engine) as s:
            assert s.exec(select(Member).where(Member.teams_user_id == BOB)).one().role == "admin"
