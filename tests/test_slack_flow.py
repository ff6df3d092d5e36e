"""From a detractor response to a closed loop, through signed Slack requests and the Web API stand-in."""

from __future__ import annotations

from bot.intake.store import record_response
from bot.intake.surveys import build_response
from tests.harness import CxHarness, text_of


def detractor(ext: str = "r-1042", comment: str = "Waited 40 minutes on hold.", touchpoint: str = "phone", score: int = 3):
    return build_response({"source": "generic", "external_id": ext, "survey": "nps", "score": score,
                           "comment": comment, "customer_id": "c-77", "customer_name": "Dana Reyes",
                           "customer_email": "dana@example.com", "touchpoint": touchpoint,
                           "responded_at": "2026-11-20T10:15:00Z"})


async def test_alert_take_eight_steps_and_close_loop(engine):
    async with CxHarness(engine) as cx:
        result = record_response(engine, cx.ws, detractor())
        assert result.case_id == 1
        await cx.deliver()
        posts = cx.slack.calls_to("chat.postMessage")
        assert [c.body["channel"] for c in posts] == ["C0SUPPORT"]
        alert = cx.alert(1)
        shown = text_of(alert)
        assert "NPS 3" in shown and "Dana Reyes" in shown and "d…@example.com" in shown
        assert "dana@example.com" not in shown
        assert "Waited 40 minutes on hold." in shown
        assert [e["action_id"] for b in alert["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
            "case_take", "case_assign", "case_dismiss"]

        reply = await cx.click("U0ALICE", alert, "case_take", channel="C0SUPPORT")
        assert reply.status == 200
        await cx.deliver()
        # the alert is edited in place, the thread says who took it, the owner gets a DM
        updates = cx.slack.calls_to("chat.update")
        assert updates and updates[-1].body["ts"] == alert["ts"]
        alert = cx.alert(1)
        assert "In progress" in text_of(alert) and "<@U0ALICE>" in text_of(alert)
        assert any("took the case" in text_of(m) for m in cx.thread(1))
        dms = [c for c in cx.slack.calls_to("chat.postMessage") if c.body["channel"].startswith("D")]
        assert len(dms) == 1 and "RESOLVED checklist" in text_of(dms[0].body)

        values = {
            "respond": {"note": "Called Dana back."},
            "empathize": {"note": "Apologised for the wait."},
            "solve": {}, "open": {}, "listen": {},
            "verify": {"customer_agreed": True, "note": "Priority line for a month."},
            "eliminate": {"note": "Set up."},
            "document": {"root_cause": "processes", "note": "Queue routing sent calls to an empty team."},
        }
        for step, vals in values.items():
            alert = cx.alert(1)
            reply = await cx.click("U0ALICE", alert, "case_step", channel="C0SUPPORT")
            assert reply.status == 200
            modal = cx.last_modal()
            assert modal["private_metadata"] == f'{{"case":1,"step":"{step}"}}'
            reply = await cx.submit("U0ALICE", modal, vals)
            assert reply.status == 200 and reply.text in ("", "null"), reply.text
            await cx.deliver()

        alert = cx.alert(1)
        assert "Resolved" in text_of(alert)
        reply = await cx.click("U0ALICE", alert, "case_close_loop", channel="C0SUPPORT")
        modal = cx.last_modal()
        reply = await cx.submit("U0ALICE", modal, {"how": "phone", "when": int(cx.clock.now.timestamp()),
                                                           "note": "Dana is happy."})
        assert reply.status == 200, reply.text
        await cx.deliver()
        alert = cx.alert(1)
        assert "Loop closed" in text_of(alert)
        assert [e["action_id"] for b in alert["blocks"] if b["type"] == "actions" for e in b["elements"]] == ["case_reopen"]
        thread = " ".join(text_of(m) for m in cx.thread(1))
        for phrase in ("took the case", "Respond to the person who is upset", "Document the problem",
                       "root cause: Processes and technology", "closed the loop"):
            assert phrase in thread
        # exactly one alert was ever posted for the case
        assert sum(1 for c in cx.slack.calls_to("chat.postMessage") if c.body["channel"] == "C0SUPPORT"
                   and not c.body.get("thread_ts")) == 1


async def test_webhook_to_alert_in_the_routed_channel(engine):
    import json as _json

    import aiohttp

    from handlers.intake.signing import sign_generic

    async with CxHarness(engine, env={"cxloop_webhook_secret": "s3cret"}) as cx:
        body = _json.dumps({"id": "r-9", "survey": "ces", "score": 1, "comment": "Refund form is impossible",
                            "customer": {"name": "Lee"}, "touchpoint": "refund",
                            "responded_at": "2026-11-20T10:15:00Z"}).encode()
        async with aiohttp.ClientSession() as http:
            async with http.post(cx.url.rstrip("/") + "/webhooks/generic", data=body,
                                 headers={"X-Cxloop-Signature": sign_generic(body, "s3cret")}) as r:
                assert r.status == 202
                assert (await r.json())["case_id"] == 1
        await cx.deliver()
        posts = cx.slack.calls_to("chat.postMessage")
        assert [p.body["channel"] for p in posts] == ["C0BILLING"]
        assert "CES 1" in text_of(cx.alert(1, "C0BILLING"))


async def test_manager_assigns_with_the_picker_and_agents_cannot(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, detractor())
        await cx.deliver()
        await cx.click("U0ALICE", cx.alert(1), "case_assign", selected_user="U0BOB")
        assert any("Only a manager of the support team can give case #1 to someone else" in t for t in cx.ephemerals_for("U0ALICE"))
        await cx.click("U0MANAGER", cx.alert(1), "case_assign", selected_user="U0BOB")
        await cx.deliver()
        alert = cx.alert(1)
        assert "<@U0BOB>" in text_of(alert)
        assert any("assigned the case to" in text_of(m) and "<@U0BOB>" in text_of(m) for m in cx.thread(1))
        # reassigning needs a reason, given in a modal
        await cx.click("U0MANAGER", alert, "case_reassign", selected_user="U0CARLOS")
        modal = cx.last_modal()
        assert (await cx.submit("U0MANAGER", modal, {"reason": ""})).json()["response_action"] == "errors"
        await cx.submit("U0MANAGER", modal, {"reason": "Bob is on leave"})
        await cx.deliver()
        assert "<@U0CARLOS>" in text_of(cx.alert(1))
        dms = {c.body["channel"] for c in cx.slack.calls_to("chat.postMessage") if c.body["channel"].startswith("D")}
        assert len(dms) == 2  # Bob's and Carlos's DMs


async def test_round_robin_gives_cases_to_members_in_turn(engine):
    from bot.config import load_workspace, parse_workspace

    data = load_workspace().model_dump(mode="json")
    for t in data["teams"]:
        t["round_robin"] = t["key"] == "support"
    ws = parse_workspace(data)
    async with CxHarness(engine, workspace=ws) as cx:
        for n in range(4):
            record_response(engine, ws, detractor(ext=f"r-{n}"))
        await cx.deliver()
        owners = [text_of(cx.alert(i)) for i in range(1, 5)]
        assert ["<@U0ALICE>" in owners[0], "<@U0BOB>" in owners[1], "<@U0CARLOS>" in owners[2],
                "<@U0ALICE>" in owners[3]] == [True] * 4
