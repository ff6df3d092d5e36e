"""`/cx` through signed slash-command requests: answers, typos, refusals, and the App Home."""

from __future__ import annotations

from bot.intake.store import record_response
from bot.intake.surveys import build_response
from tests.harness import CxHarness


def detractor(ext: str):
    return build_response({"source": "generic", "external_id": ext, "survey": "csat", "score": 1,
                           "comment": "Rude agent", "touchpoint": "chat", "responded_at": "2026-11-20T10:15:00Z"})


async def test_help_lists_only_what_the_caller_may_use(engine):
    async with CxHarness(engine) as cx:
        reply = await cx.command("U0ALICE", "help")
        assert reply.status == 200
        doc = reply.json()
        assert doc["response_type"] == "ephemeral"
        text = str(doc["blocks"])
        assert "/cx mine" in text and "/cx case ID" in text and "agent" in text


async def test_unknown_subcommand_suggests_the_closest(engine):
    async with CxHarness(engine) as cx:
        doc = (await cx.command("U0ALICE", "mien")).json()
        assert doc["response_type"] == "ephemeral"
        assert "`mien` is not a cxloop command" in doc["text"] and "/cx mine" in doc["text"]


async def test_case_shows_the_whole_case_to_its_team_only(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, detractor("r-1"))
        await cx.deliver()
        await cx.click("U0BOB", cx.alert(1), "case_take")
        doc = (await cx.command("U0BOB", "case 1")).json()
        text = str(doc["blocks"])
        assert "CSAT 1" in text and "RESOLVED checklist" in text and "History" in text and "taken" in text
        refused = (await cx.command("U0PRIYA", "case 1")).json()
        assert "belongs to the support team" in refused["text"]
        missing = (await cx.command("U0BOB", "case 99")).json()
        assert "There is no case #99" in missing["text"]
        malformed = (await cx.command("U0BOB", "case abc")).json()
        assert "Give the case number" in malformed["text"]


async def test_mine_lists_open_cases_with_next_step(engine):
    async with CxHarness(engine) as cx:
        assert "no open cases" in str((await cx.command("U0BOB", "mine")).json())
        record_response(engine, cx.ws, detractor("r-1"))
        await cx.deliver()
        await cx.click("U0BOB", cx.alert(1), "case_take")
        text = str((await cx.command("U0BOB", "mine")).json()["blocks"])
        assert "#1" in text and "next: 1. Respond to the person who is upset" in text


async def test_app_home_shows_my_cases_and_the_managers_queue(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, detractor("r-1"))
        record_response(engine, cx.ws, detractor("r-2"))
        await cx.deliver()
        await cx.click("U0BOB", cx.alert(1), "case_take")
        await cx.sender.home_opened("U0BOB")
        await cx.sender.home_opened("U0MANAGER")
        await cx.rt.wait_idle()
        agent = str(cx.slack.home_views["U0BOB"]["blocks"])
        assert "#1" in agent and "unclaimed" not in agent
        manager = str(cx.slack.home_views["U0MANAGER"]["blocks"])
        assert "Customer Support: unclaimed (1)" in manager and "#2" in manager
