"""Hostile input never costs a stall or a silent failure: huge Teams messages, case numbers past the
database's integers, and team names that look like maths."""

from __future__ import annotations

import base64

import pytest
from sqlmodel import Session, func, select

from bot.cases import service as cases
from bot.chat.messages import Image
from bot.config import load_workspace, parse_workspace
from bot.errors import BadInput, NotFound
from bot.intake.store import record_response
from bot.reporting import digest
from bot.reporting import messages as digest_messages
from standins.teams_cards import text_of as teams_text
from storage.models import Case
from tests.harness import CxHarness
from tests.teams_harness import ALICE, MANAGER, TeamsHarness
from tests.test_console import detractor, said
from tests.test_digest import WEEK, answer, roster
from tests.test_teams_commands import replies

HUGE = "9999999999999999999999999"
MANAGER_SLACK = "U0MANAGER"


async def test_a_100_kb_teams_message_of_angle_brackets_is_refused_as_too_long(engine):
    async with TeamsHarness(engine) as cx:
        chat = await cx.teams.install_personal(cx.bot_url, ALICE)
        status, _ = await cx.teams.message(cx.bot_url, ALICE, "<" * 100_000, conversation=chat)
        assert status == 200
        assert "That message is 100,000 characters long; a cxloop command is at most 8,000" in teams_text(
            replies(cx, chat)[-1])


@pytest.mark.parametrize("text", ["cx case " + "<" * 7_900, "cx case " + "<at>" * 1_975, "cx case 1" + "<b" * 3_900])
async def test_a_command_full_of_markup_up_to_the_cap_is_read_and_answered(engine, text):
    async with TeamsHarness(engine) as cx:
        chat = await cx.teams.install_personal(cx.bot_url, ALICE)
        await cx.teams.message(cx.bot_url, ALICE, text, conversation=chat)
        assert "Give the case number" in teams_text(replies(cx, chat)[-1])


@pytest.mark.parametrize("number", [HUGE, "2147483648", "#" + HUGE, "0", "1" * 5000])
async def test_a_case_number_no_case_can_have_is_no_such_case_in_slack(engine, number):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, detractor(1))
        shown = number.lstrip("#")
        shown = shown if len(shown) <= 32 else shown[:32] + "…"
        assert f"There is no case #{shown}." in said(await cx.command(MANAGER_SLACK, f"case {number}"))
        assert f"There is no case #{shown}." in said(await cx.command(MANAGER_SLACK, f"assign {number} <@U0BOB|bob>"))
        with Session(engine) as s:
            assert s.exec(select(Case)).one().owner_id is None


async def test_a_case_number_no_case_can_have_is_no_such_case_in_teams(engine):
    async with TeamsHarness(engine) as cx:
        chat = await cx.teams.install_personal(cx.bot_url, MANAGER)
        await cx.teams.message(cx.bot_url, MANAGER, f"cx case {HUGE}", conversation=chat)
        assert f"There is no case #{HUGE}." in teams_text(replies(cx, chat)[-1])


def test_case_numbers_are_ascii_digits_within_the_id_column(engine):
    usage = "Give the case number."
    assert cases.case_number("#42", usage=usage) == 42
    for bad in ("²", "١٢", "4 2", "", "#", "-1", "1e3"):
        with pytest.raises(BadInput, match="Give the case number"):
            cases.case_number(bad, usage=usage)
    for none in ("0", "2147483648", HUGE):
        with pytest.raises(NotFound, match="There is no case #"):
            cases.case_number(none, usage=usage)
    with Session(engine) as s:
        for cid in (0, -1, 2**31, 2**63, 10**30):
            with pytest.raises(NotFound, match=f"There is no case #{cid}"):
                cases.get_case(s, cid)
        assert s.exec(select(func.count(Case.id))).one() == 0


@pytest.mark.parametrize("name", [r"Support $\alpha$", "Price $5 and $", r"a $x^{$ b", "$$"])
def test_a_team_name_that_looks_like_maths_still_gets_its_digest_chart(engine, name):
    data = load_workspace().model_dump(mode="json")
    data["teams"][0]["name"] = name
    ws = parse_workspace(data)
    roster(engine, ws)
    for week in range(3):
        answer(engine, ws, f"r{week}", "nps", 9, WEEK[0] - (2 - week) * (WEEK[1] - WEEK[0]))
    msg = digest_messages.digest_message(digest.compute_digest(engine, ws, "support", *WEEK))
    (image,) = [b for b in msg.blocks if isinstance(b, Image)]
    assert base64.b64decode(image.png_base64).startswith(b"\x89PNG") and name in image.title
