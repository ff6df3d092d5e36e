"""The owner's "Draft a reply" in Teams."""

from __future__ import annotations

import json

from bot.intake.store import record_response
from bot.intake.surveys import build_response
from standins.teams_cards import card_of, find_actions, find_inputs
from tests.teams_harness import ALICE, BOB, TeamsHarness, dialog_card, dialog_message


def detractor():  # type: ignore[no-untyped-def]
    return build_response({"source": "generic", "external_id": "r-7", "survey": "nps", "score": 2,
                           "comment": "Charged twice this month.", "customer_name": "Dana Reyes",
                           "touchpoint": "phone", "responded_at": "2026-11-20T10:15:00Z"})


async def test_the_owner_gets_an_editable_draft_and_nothing_is_sent(engine) -> None:  # type: ignore[no-untyped-def]
    async with TeamsHarness(engine) as cx:
        await cx.install()
        record_response(engine, cx.ws, detractor())
        await cx.deliver()
        await cx.click(ALICE, cx.alert(1), "Take it")
        await cx.deliver()
        owner_dm = cx.dm(ALICE)[-1]
        assert "Draft a reply" in [a["title"] for a in find_actions(card_of(owner_dm))]
        refused = await cx.click(BOB, owner_dm, "Draft a reply")
        assert "owner" in (dialog_message(refused) or "").lower()
        dialog = await cx.click(ALICE, owner_dm, "Draft a reply")
        card = dialog_card(dialog)
        (box,) = find_inputs(card)
        assert box["value"].startswith("Hi Dana,") and "sorry" in box["value"].lower()
        assert "Drafted offline" in json.dumps(card) and "Regenerate" not in json.dumps(card)
        sent_before = len(cx.outbox())
        assert await cx.submit(ALICE, dialog, {"draft": box["value"] + " Thanks, Alice"}, owner_dm) is None
        await cx.deliver()
        assert len(cx.outbox()) == sent_before
