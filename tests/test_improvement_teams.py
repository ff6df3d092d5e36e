"""The outer loop in Microsoft Teams, through signed HTTP and the Bot Connector stand-in: the same
huddle card, dialogs and commands as Slack, written once."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from handlers.jobs import run_due
from standins.teams_cards import find_inputs
from tests.improvement_data import DAY, HUDDLE_AT, PARCEL, WEEK, answer
from tests.teams_harness import ALICE, BOB, MANAGER, SUPPORT, TeamsHarness, dialog_card, dialog_message, text_of

HOUR = DAY / 24


@pytest.fixture(autouse=True)
def _clock(process_clock) -> None:
    process_clock.now = HUDDLE_AT


def input_types(card: Any) -> dict[str, str]:
    """Every input on a card: its id and its type."""
    return {node["id"]: node["type"] for node in find_inputs(card)}


async def tick(cx: TeamsHarness, at: datetime) -> None:
    cx.clock.now = at
    await run_due(cx.engine, cx.ws, cx.settings, at=at, deliverer=cx.deliverer)
    await cx.deliverer.drain(now=at)


def post(cx: TeamsHarness, key: str) -> dict[str, Any]:
    row = cx.sent(key)
    assert row.status == "sent", (row.status, row.last_error)
    return cx.teams.activity(SUPPORT, row.sent_ref or "")


async def test_a_huddle_in_teams_starts_an_improvement_and_sets_a_pattern_aside(engine):
    async with TeamsHarness(engine) as cx:
        await cx.install()
        start = HUDDLE_AT - 4 * WEEK + DAY
        for i in range(4):
            answer(engine, cx.ws, at=start + i * DAY, score=2)
            answer(engine, cx.ws, at=start + i * DAY + HOUR, score=3, comment=PARCEL, touchpoint="email")
        await tick(cx, HUDDLE_AT)
        huddle = post(cx, "teams:huddle:support:2026-11-30")
        shown = text_of(huddle)
        assert "weekly huddle" in shown and "Theme: wait time" in shown and "Theme: delivery" in shown
        assert "4 responses: too few to call a trend" in shown

        # Alice (a member) may not set a pattern aside; the manager may.
        refused = await cx.click(ALICE, huddle, "Not now")
        assert "Only a manager of the Customer Support team" in (dialog_message(refused) or "")
        await cx.click(MANAGER, huddle, "Not now")  # the first pattern's
        await cx.deliver()
        assert any("set “" in text_of(a) and "aside for now" in text_of(a)
                   for a in cx.teams.thread(SUPPORT, huddle["id"]))

        dialog = await cx.click(ALICE, huddle, "Start an improvement")
        kinds = input_types(dialog_card(dialog))
        assert kinds["owner"] == "Input.ChoiceSet" and kinds["target_date.date"] == "Input.Date"
        inputs = {"title": "Fewer lost parcels", "problem": "Parcels go missing.", "owner": BOB,
                  "metric": "nps", "touchpoint": "phone", "target": "10",
                  "target_date.date": "2027-01-29", "target_date.time": "12:00"}
        again = await cx.submit(ALICE, dialog, {**inputs, "target": "better"}, huddle)
        assert "needs a number" in json.dumps(dialog_card(again), ensure_ascii=False)
        started = await cx.submit(ALICE, dialog, inputs, huddle)
        assert dialog_message(started) == "Started improvement #1: its post is in the team channel."
        await cx.deliver()
        card = text_of(post(cx, "teams:improvement:1"))
        assert "Improvement #1: Fewer lost parcels" in card and "Bob Okafor" in card
        assert "NPS 10 by Fri 29 Jan 2027" in card

        chat = await cx.teams.install_personal(cx.bot_url, BOB)
        await cx.teams.message(cx.bot_url, BOB, "cx improve", conversation=chat)
        await cx.deliver()
        listed = text_of(cx.teams.activities(chat)[-1])
        assert "#1" in listed and "Fewer lost parcels" in listed and "Plan" in listed
        await cx.teams.message(cx.bot_url, BOB, "cx improve 1", conversation=chat)
        await cx.deliver()
        whole = text_of(cx.teams.activities(chat)[-1])
        assert "History" in whole and "moved it" not in whole and "started" in whole


async def test_a_check_in_in_teams_has_its_chart_and_the_invitation_moves_it_to_control(engine):
    from tests.improvement_data import add_action, answers, move, start_improvement

    async with TeamsHarness(engine) as cx:
        await cx.install()
        await cx.teams.install_personal(cx.bot_url, ALICE)
        answers(engine, cx.ws, [1, 5] * 10, start=HUDDLE_AT - 5 * WEEK, survey="csat", comment=None, every=DAY)
        imp = start_improvement(engine, cx.ws, now=HUDDLE_AT, metric="csat", target="80")
        add_action(engine, cx.ws, imp, due=HUDDLE_AT + DAY, now=HUDDLE_AT)
        move(engine, cx.ws, imp, "do", now=HUDDLE_AT)
        answers(engine, cx.ws, [5] * 20, start=HUDDLE_AT + HOUR, survey="csat", comment=None)
        await tick(cx, HUDDLE_AT + WEEK)
        root = post(cx, "teams:improvement:1")
        replies = cx.teams.thread(SUPPORT, root["id"])
        (check,) = [a for a in replies if "Check-in 1" in text_of(a)]
        assert "100% (20 answers, 20 satisfied (4–5))" in text_of(check) and "+50.0 pts" in text_of(check)
        images = [a for a in replies if "image/png" in json.dumps(a.get("attachments") or [])]
        assert len(images) == 1
        (invite,) = [a for a in cx.dm(ALICE) if "met its target" in text_of(a)]
        refused = await cx.click(BOB, invite, "Move to Control")  # not an owner: refused, nothing moves
        assert "Only an owner of improvement #1" in (dialog_message(refused) or "")
        await cx.deliver()
        assert "[Do]" in text_of(post(cx, "teams:improvement:1"))
        answer_ = await cx.click(ALICE, invite, "Move to Control")
        assert "is in Control" in (dialog_message(answer_) or "")
        await cx.deliver()
        assert "[Control]" in text_of(post(cx, "teams:improvement:1"))
