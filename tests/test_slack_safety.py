"""Hostile text, Block Kit limits, signatures, retries, permissions: what must never go wrong in Slack."""

from __future__ import annotations

import json
import time

from bot.intake.store import record_response
from bot.intake.surveys import build_response
from handlers.slack import render
from tests.harness import CxHarness, text_of

HOSTILE = ("<!channel> <!here> @here @channel <@U0MANAGER> <#C0BILLING> <https://evil.example|click me> "
           "see https://evil.example/x & www.evil.example < > done")


def response(ext: str, comment: str | None, *, name: str = "Dana Reyes", score: int = 2, touchpoint: str = "phone"):
    return build_response({"source": "generic", "external_id": ext, "survey": "nps", "score": score,
                           "comment": comment, "customer_name": name, "customer_email": "dana@example.com",
                           "touchpoint": touchpoint, "responded_at": "2026-11-20T10:15:00Z"})


def all_text(payload: dict) -> str:
    return json.dumps(payload.get("blocks", []), ensure_ascii=False) + "\n" + payload.get("text", "")


def test_neutralize_breaks_every_kind_of_markup():
    out = render.safe(HOSTILE)
    for bad in ("<!channel>", "<!here>", "<@U0MANAGER>", "<#C0BILLING>", "<https://", "|click me>", "@here",
                "@channel", "https://evil", "www.evil"):
        assert bad not in out, bad
    assert "&lt;!channel&gt;" in out and "&amp;" in out and "&lt; &gt;" in out
    # the words are still there for a person to read
    assert "click me" in out and "evil.example" in out


def test_styled_words_keep_their_markers_against_the_words():
    from bot.chat.messages import bold, plain

    text = render.spans([bold("👋 Case #4 has waited 2 days for an owner. "), plain("Take it?")])
    assert text == "*👋 Case #4 has waited 2 days for an owner.* Take it?"  # `owner. *` would show the asterisk
    assert render.spans([bold("   ")]) == "   "


async def test_hostile_comment_and_name_render_as_plain_text(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, response("r-hostile", HOSTILE, name="<!channel> Mallory <@U0ADMIN>"))
        await cx.deliver()
        post = cx.slack.calls_to("chat.postMessage")[0].body
        shown = all_text(post)
        for bad in ("<!channel>", "<!here>", "<@U0MANAGER>", "<@U0ADMIN>", "<#C0BILLING>", "<https://evil",
                    "https://evil", "@here", "www.evil"):
            assert bad not in shown, bad
        # mrkdwn that carries customer text is verbatim: Slack will not auto-link it
        for b in post["blocks"]:
            for t in [b.get("text")] + list(b.get("fields") or []):
                if t and t.get("type") == "mrkdwn":
                    assert t.get("verbatim") is True
        assert post.get("unfurl_links") is False


async def test_fifty_thousand_character_comment_is_cut_and_kept_whole_in_the_thread(engine):
    comment = ("Line of complaint & more <b>. " * 1700)[:50_000]
    assert len(comment) == 50_000
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, response("r-long", comment))
        await cx.deliver()
        alert = cx.alert(1)
        for b in alert["blocks"]:
            if b["type"] == "section" and "text" in b:
                assert len(b["text"]["text"]) <= 3000
            for f in b.get("fields", []):
                assert len(f["text"]) <= 2000
        assert len(alert["blocks"]) <= 50
        assert "✂" in text_of(alert) and "the full text is in the thread" in text_of(alert)
        thread = cx.thread(1)
        assert thread, "the full comment should be in the thread"
        for m in thread:
            assert len(m["blocks"]) <= 50
            for b in m["blocks"]:
                if b["type"] == "section":
                    assert len(b["text"]["text"]) <= 3000
        # every character survives, in order, across the thread messages
        quoted = "".join(b["text"]["text"] for m in thread for b in m["blocks"] if b["type"] == "section")
        restored = quoted.replace("> ", "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        assert restored.replace("\n", "") == comment.strip().replace("\n", "")


async def test_bad_and_stale_signatures_are_refused_and_change_nothing(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, response("r-1", "slow"))
        await cx.deliver()
        alert = cx.alert(1)
        body = cx.sender.click_body("U0ALICE", alert, "case_take", channel="C0SUPPORT")
        forged = await cx.sender.post(body, "application/x-www-form-urlencoded", signature="v0=" + "0" * 64)
        assert forged.status == 401
        stale = await cx.sender.post(body, "application/x-www-form-urlencoded", timestamp=int(time.time()) - 6 * 60)
        assert stale.status == 401
        unsigned = await cx.sender.post(body, "application/x-www-form-urlencoded", signature="")
        assert unsigned.status == 401
        await cx.rt.wait_idle()
        await cx.deliver()
        assert "Unclaimed" in text_of(cx.alert(1))
        assert cx.slack.calls_to("chat.update") == []
        # a signature within the window still works
        ok = await cx.sender.post(body, "application/x-www-form-urlencoded", timestamp=int(time.time()) - 4 * 60)
        assert ok.status == 200


async def test_a_retried_event_is_handled_once(engine):
    async with CxHarness(engine) as cx:
        first = await cx.sender.home_opened("U0ALICE")
        retry = await cx.sender.post(cx.sender.event_body({"type": "app_home_opened", "user": "U0ALICE", "tab": "home"},
                                                          event_id="Ev-same"), "application/json")
        again = await cx.sender.post(cx.sender.event_body({"type": "app_home_opened", "user": "U0ALICE", "tab": "home"},
                                                          event_id="Ev-same"), "application/json", retry_num=1)
        await cx.rt.wait_idle()
        assert first.status == retry.status == again.status == 200
        assert len(cx.slack.calls_to("views.publish")) == 2  # first event + Ev-same once


async def test_double_click_on_take_gives_one_owner_and_one_dm(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, response("r-1", "slow"))
        await cx.deliver()
        alert = cx.alert(1)
        await cx.click("U0ALICE", alert, "case_take")
        await cx.click("U0ALICE", alert, "case_take")
        await cx.click("U0BOB", alert, "case_take")
        await cx.deliver()
        dms = [c for c in cx.slack.calls_to("chat.postMessage") if c.body["channel"].startswith("D")]
        assert len(dms) == 1
        assert any("already own" in t for t in cx.ephemerals_for("U0ALICE"))
        assert any("already owned" in t for t in cx.ephemerals_for("U0BOB"))
        assert "<@U0ALICE>" in text_of(cx.alert(1))


async def test_only_owner_or_manager_may_work_the_case(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, response("r-1", "slow"))
        await cx.deliver()
        await cx.click("U0ALICE", cx.alert(1), "case_take")
        await cx.deliver()
        alert = cx.alert(1)
        # a teammate may not tick steps, close, or reassign
        await cx.click("U0BOB", alert, "case_step")
        await cx.click("U0BOB", alert, "case_dismiss")
        await cx.click("U0BOB", alert, "case_reassign", selected_user="U0BOB")
        told = cx.ephemerals_for("U0BOB")
        assert len(told) == 3 and all("Only the case owner or a manager" in t for t in told[:2])
        assert "already owned; ask its owner or a manager to reassign it" in told[2]
        assert cx.slack.calls_to("views.open") == []
        # someone from another team cannot even take an unclaimed case
        record_response(engine, cx.ws, response("r-2", "slow too"))
        await cx.deliver()
        await cx.click("U0PRIYA", cx.alert(2), "case_take")
        assert any("Only members of the support team" in t for t in cx.ephemerals_for("U0PRIYA"))
        # the team's manager may tick a step on Alice's case
        await cx.click("U0MANAGER", alert, "case_step")
        assert len(cx.slack.calls_to("views.open")) == 1


async def test_verify_and_document_demand_their_details(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, response("r-1", "slow"))
        await cx.deliver()
        await cx.click("U0ALICE", cx.alert(1), "case_take")
        await cx.deliver()
        for step in ("respond", "empathize", "solve", "open", "listen"):
            await cx.click("U0ALICE", cx.alert(1), "case_step")
            await cx.submit("U0ALICE", cx.last_modal(), {})
            await cx.deliver()
        await cx.click("U0ALICE", cx.alert(1), "case_step")
        refused = await cx.submit("U0ALICE", cx.last_modal(), {"customer_agreed": False})
        assert refused.json()["response_action"] == "errors"
        assert "agreement" in refused.json()["errors"]["customer_agreed"]
        await cx.submit("U0ALICE", cx.last_modal(), {"customer_agreed": True})
        await cx.deliver()
        await cx.click("U0ALICE", cx.alert(1), "case_step")
        await cx.submit("U0ALICE", cx.last_modal(), {})
        await cx.deliver()
        await cx.click("U0ALICE", cx.alert(1), "case_step")
        modal = cx.last_modal()
        no_cause = await cx.submit("U0ALICE", modal, {"note": "n"})
        assert "root_cause" in no_cause.json()["errors"]
        no_note = await cx.submit("U0ALICE", modal, {"root_cause": "personnel"})
        assert "note" in no_note.json()["errors"]
        ok = await cx.submit("U0ALICE", modal, {"root_cause": "personnel", "note": "Rota gap on Fridays."})
        assert ok.status == 200 and not ok.text
        await cx.deliver()
        assert "Resolved" in text_of(cx.alert(1))


async def test_dismiss_needs_a_reason_and_reopen_starts_a_new_round(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, response("r-1", "slow"))
        await cx.deliver()
        await cx.click("U0MANAGER", cx.alert(1), "case_dismiss")
        modal = cx.last_modal()
        empty = await cx.submit("U0MANAGER", modal, {"reason": "  "})
        assert "reason" in empty.json()["errors"]
        await cx.submit("U0MANAGER", modal, {"reason": "Spam response from a bot."})
        await cx.deliver()
        alert = cx.alert(1)
        assert "Not actionable" in text_of(alert) and "Spam response from a bot." in text_of(alert)
        await cx.click("U0MANAGER", alert, "case_reopen")
        await cx.submit("U0MANAGER", cx.last_modal(), {"reason": "It was a real customer after all."})
        await cx.deliver()
        alert = cx.alert(1)
        assert "Unclaimed" in text_of(alert) and "RESOLVED 0/8" in text_of(alert)
        assert any("reopened the case" in text_of(m) for m in cx.thread(1))
