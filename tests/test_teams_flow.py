"""The closed loop in Teams, through HTTP: real botbuilder against the local Bot Connector stand-in."""

from __future__ import annotations

import json

import aiohttp

from bot.intake.store import record_response
from bot.intake.surveys import build_response
from handlers.intake.signing import sign_generic
from standins.teams_cards import card_of, find_actions, find_inputs, text_of
from tests.teams_harness import (
    ALICE,
    BOB,
    MANAGER,
    OUTSIDER,
    SUPPORT,
    TEAM,
    WEBHOOK_SECRET,
    TeamsHarness,
    dialog_card,
    dialog_message,
)


def detractor(ext: str = "r-1042", comment: str = "Waited 40 minutes on hold.", touchpoint: str = "phone",
              score: int = 3):
    return build_response({"source": "generic", "external_id": ext, "survey": "nps", "score": score,
                           "comment": comment, "customer_id": "c-77", "customer_name": "Dana Reyes",
                           "customer_email": "dana@example.com", "touchpoint": touchpoint,
                           "responded_at": "2026-11-20T10:15:00Z"})


def buttons(activity) -> list[str]:
    return [a["title"] for a in find_actions(card_of(activity))]


async def test_install_in_a_team_stores_a_reference_per_channel(engine):
    async with TeamsHarness(engine) as cx:
        await cx.install()
        refs = {r.conversation_id: r for r in cx.refs()}
        assert {TEAM, SUPPORT} <= set(refs)
        support = refs[SUPPORT]
        assert support.kind == "channel" and support.team_id == TEAM and support.name == "Support"
        assert support.service_url == cx.teams.service_url and support.tenant_id == cx.teams.tenant_id
        assert support.reference["conversation"]["id"] == SUPPORT
        # the welcome post in General lists the channel ids to put in the YAML
        welcome = cx.teams.posts(TEAM)
        assert len(welcome) == 1 and SUPPORT in text_of(welcome[0])


async def test_webhook_to_card_take_eight_steps_and_close_the_loop(engine):
    async with TeamsHarness(engine, workspace=None) as cx:
        await cx.install()
        body = json.dumps({"id": "r-9", "survey": "nps", "score": 3, "comment": "Waited 40 minutes on hold.",
                           "customer": {"name": "Dana Reyes", "email": "dana@example.com"}, "touchpoint": "phone",
                           "responded_at": "2026-11-20T10:15:00Z"}).encode()
        base = cx.bot_url.rsplit("/api/messages", 1)[0]
        async with aiohttp.ClientSession() as http:
            async with http.post(base + "/webhooks/generic", data=body,
                                 headers={"X-Cxloop-Signature": sign_generic(body, WEBHOOK_SECRET)}) as r:
                assert r.status == 202, await r.text()
        assert await cx.deliver() == 1
        posts = cx.teams.posts(SUPPORT)
        assert len(posts) == 1
        alert = cx.alert(1)
        shown = text_of(alert)
        assert "NPS 3" in shown and "Dana Reyes" in shown and "d…@example.com" in shown
        assert "dana@example.com" not in shown and "Waited 40 minutes on hold." in shown
        assert buttons(alert) == ["Take it", "Assign to…", "Not actionable"]

        answer = await cx.click(ALICE, alert, "Take it")
        assert "You took case #1" in dialog_message(answer)
        await cx.deliver()
        alert = cx.alert(1)
        assert alert["versions"] == 1 and "In progress" in text_of(alert) and "Alice Martin" in text_of(alert)
        # the owner is mentioned (a real Teams mention, by Entra object id)
        mentions = card_of(alert)["msteams"]["entities"]
        assert [m["mentioned"]["id"] for m in mentions] == [ALICE]
        assert any("took the case" in text_of(m) for m in cx.thread(1))
        dm = cx.dm(ALICE)
        assert len(dm) == 1 and "RESOLVED checklist" in text_of(dm[0])

        steps = {
            "1. Respond": {"note": "Called Dana back."},
            "2. Empathize": {"note": "Apologised for the wait."},
            "3. Seek": {}, "4. Be open": {}, "5. Listen": {},
            "6. Verify": {"customer_agreed": True, "note": "Priority line for a month."},
            "7. Eliminate": {"note": "Set up."},
            "8. Document": {"root_cause": "processes", "note": "Queue routing sent calls to an empty team."},
        }
        for title, inputs in steps.items():
            alert = cx.alert(1)
            dialog = await cx.click(ALICE, alert, title)
            card = dialog_card(dialog)
            kinds = {i["id"]: i["type"] for i in find_inputs(card)}
            if title.startswith("6."):
                assert kinds == {"customer_agreed": "Input.Toggle", "note": "Input.Text"}
            if title.startswith("8."):
                assert kinds == {"root_cause": "Input.ChoiceSet", "note": "Input.Text"}
                assert next(i for i in find_inputs(card) if i["id"] == "note")["isRequired"] is True
            closed = await cx.submit(ALICE, dialog, inputs, alert)
            assert closed is None, closed
            await cx.deliver()

        alert = cx.alert(1)
        assert "Resolved" in text_of(alert) and alert["versions"] == 9
        dialog = await cx.click(ALICE, alert, "Close the loop")
        kinds = [i["type"] for i in find_inputs(dialog_card(dialog))]
        assert kinds == ["Input.ChoiceSet", "Input.Date", "Input.Time", "Input.Text"]
        assert await cx.submit(ALICE, dialog, {"how": "phone", "note": "Dana is happy."}, alert) is None
        await cx.deliver()
        alert = cx.alert(1)
        assert "Loop closed" in text_of(alert) and buttons(alert) == ["Reopen"]
        thread = " ".join(text_of(m) for m in cx.thread(1))
        for phrase in ("took the case", "Respond to the person who is upset", "Document the problem",
                       "root cause: Processes and technology", "closed the loop"):
            assert phrase in thread
        # one post for the case, ever; every change was an edit of it
        assert len(cx.teams.posts(SUPPORT)) == 1
        edits = [c for c in cx.teams.calls_to("update") if SUPPORT in c.path]
        assert len(edits) == alert["versions"] == 10
        assert {c.path.rsplit("/", 1)[1] for c in edits} == {alert["id"]}
        # the owner's chat card was edited in place too, never posted twice
        assert len(cx.dm(ALICE)) == 1 and "Loop closed" in text_of(cx.dm(ALICE)[0])
        assert not cx.teams.rejected


async def test_refusals_show_only_to_the_clicker_and_forms_show_errors_in_place(engine):
    async with TeamsHarness(engine) as cx:
        await cx.install()
        record_response(engine, cx.ws, detractor())
        await cx.deliver()
        # someone outside the support team cannot take it
        answer = await cx.click(OUTSIDER[0], cx.alert(1), "Take it")
        assert "support" in dialog_message(answer)
        await cx.click(ALICE, cx.alert(1), "Take it")
        await cx.deliver()
        # Bob is not the owner: the step form is refused before anything is typed
        answer = await cx.click(BOB, cx.alert(1), "1. Respond")
        assert "owner" in dialog_message(answer).lower()
        # a reason is needed to reassign; the error shows in the dialog, next to the field
        picker = await cx.click(MANAGER, cx.alert(1), "Reassign to")
        people = find_inputs(dialog_card(picker))
        assert people[0]["choices.data"]["dataset"] == "graph.microsoft.com/users"
        form = await cx.submit(MANAGER, picker, {"picked": BOB}, cx.alert(1))
        assert "Bob Okafor" in text_of({"attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                                          "content": dialog_card(form)}]})
        again = await cx.submit(MANAGER, form, {"reason": "   "}, cx.alert(1))
        assert "reason is required" in json.dumps(dialog_card(again))
        assert await cx.submit(MANAGER, again, {"reason": "Alice is on leave"}, cx.alert(1)) is None
        await cx.deliver()
        assert "Bob Okafor" in text_of(cx.alert(1))
        assert len(cx.dm(BOB)) == 1


async def test_a_manager_assigns_someone_new_with_the_people_picker_and_cxloop_opens_their_chat(engine):
    async with TeamsHarness(engine) as cx:
        await cx.install()
        record_response(engine, cx.ws, detractor())
        await cx.deliver()
        picker = await cx.click(MANAGER, cx.alert(1), "Assign to")
        # Olive is in the Teams team but in no cxloop team: owning the case would show her the customer
        refused = await cx.submit(MANAGER, picker, {"picked": OUTSIDER[0]}, cx.alert(1))
        assert "not in the support team" in json.dumps(refused)
        assert "Olive Outsider" not in text_of(cx.alert(1))
        await cx.teams.message(cx.bot_url, MANAGER, "cx team add @Olive Outsider support", conversation=SUPPORT,
                               mentions=[OUTSIDER[0]])
        picker = await cx.click(MANAGER, cx.alert(1), "Assign to")
        done = await cx.submit(MANAGER, picker, {"picked": OUTSIDER[0]}, cx.alert(1))
        assert dialog_message(done) == "Case #1 is now with Olive Outsider."
        await cx.deliver()
        assert "Olive Outsider" in text_of(cx.alert(1))
        # she never opened cxloop: it found her 29: id through the team and opened the chat
        (created,) = cx.teams.calls_to("create_conversation")
        assert created.body["members"][0]["id"].startswith("29:") and created.body["isGroup"] is False
        assert len(cx.dm(OUTSIDER[0])) == 1
        assert any(r.kind == "personal" and r.user_id == OUTSIDER[0] for r in cx.refs())
