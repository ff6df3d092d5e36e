"""A customer's request to see or erase their data: export (everything, and only theirs), erase everywhere
it went (every table, the outbox and inbox, the Slack messages that showed them), scores unchanged, and
their old answers not taken in again."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.errors import ConfigError
from bot.intake.csv_import import import_csv
from bot.privacy import keys
from bot.privacy.erase import erase
from bot.privacy.export import export
from bot.privacy.holdings import Subject
from storage.models import AuditEntry, Case, InboxItem, OutboxMessage, SurveyResponse
from storage.models_privacy import ErasedIdentity
from tests.harness import CxHarness, text_of
from tests.privacy_seed import (COMMENT, CUSTOMER_ID, EMAIL, ENV, KEY, NAME, OTHER_COMMENT, OTHER_EMAIL,
                                OTHER_NAME, SECRETS, WORDS, all_scores, copies_elsewhere, dump, found_in,
                                other_body, post_webhook, rows, webhook_body, work_the_case)


async def seeded(cx: CxHarness) -> tuple[int, int]:
    """Dana's detractor answer through the webhook, worked in chat and quoted elsewhere; Omar's answer too."""
    status, body = await post_webhook(cx.url, webhook_body())
    assert status == 202, body
    dana_case = body["case_id"]
    status, other = await post_webhook(cx.url, other_body())
    assert status == 202
    await cx.deliver()
    await cx.click("U0ALICE", cx.alert(dana_case), "case_take")  # an inbox row quoting the alert, a DM
    work_the_case(cx.engine, cx.ws, dana_case)
    copies_elsewhere(cx.engine, body["response_id"], dana_case)
    await cx.deliver()
    return body["response_id"], dana_case


def slack_texts(cx: CxHarness) -> list[str]:
    channels = ["C0SUPPORT", "C0BILLING", "C0DELIVERY"] + [c for u in ("U0ALICE", "U0MANAGER", "U0BOB")
                                                          if (c := cx.slack.dm_channel(u))]
    return [text_of(m) for ch in channels for m in cx.slack.messages(ch)]


async def test_an_export_holds_everything_about_the_customer_and_nothing_about_anyone_else(engine):
    async with CxHarness(engine, env=ENV) as cx:
        response_id, case_id = await seeded(cx)
        doc = export(engine, Subject.of(email=EMAIL.upper()))
        text = json.dumps(doc, ensure_ascii=False)
        assert [r["id"] for r in doc["responses"]] == [response_id]
        assert doc["responses"][0]["raw"]["customer"]["phone"] == "+44 7700 900461", "the raw body, as received"
        assert doc["responses"][0]["comment"] == COMMENT
        assert [c["id"] for c in doc["cases"]] == [case_id]
        assert [s["step"] for s in doc["cases"][0]["steps"]] == ["respond"]
        assert {"opened", "taken", "step"} <= {e["kind"] for e in doc["cases"][0]["history"]}
        assert any(NAME in s["text"] for s in doc["stories"]) and any(NAME in s["text"] for s in doc["shoutouts"])
        assert {a["subject"] for a in doc["assistant"]} >= {f"case:{case_id}", "digest:support:2026-11-23"}
        posted = {(m["channel"], m["kind"]) for m in doc["chat"]}
        assert ("C0SUPPORT", "channel message") in posted and ("C0SUPPORT", "channel message (thread reply)") in posted
        assert any(m["kind"] == "direct message" for m in doc["chat"]), "the owner's DM showed her name"
        assert all(m["message"] for m in doc["chat"]), "each with its Slack reference"
        for other in (OTHER_NAME, OTHER_EMAIL, OTHER_COMMENT):
            assert other not in text
        by_id = export(engine, Subject.of(customer_id=CUSTOMER_ID))
        assert [r["id"] for r in by_id["responses"]] == [response_id]
        assert export(engine, Subject.of(email="nobody@example.org"))["responses"] == []


async def test_an_erased_customer_is_in_no_table_and_no_slack_message_and_scores_do_not_move(engine):
    async with CxHarness(engine, env=ENV) as cx:
        response_id, case_id = await seeded(cx)
        assert found_in(dump(engine)) == list(SECRETS), "the seed put every secret in the database"
        assert any(NAME in t for t in slack_texts(cx)) and any(WORDS[:40] in t for t in slack_texts(cx))
        with Session(engine) as s:
            omar_before = s.exec(select(SurveyResponse).where(SurveyResponse.external_id == "r-omar")).one()
        scores = all_scores(engine)
        await cx.sender.home_opened("U0ALICE")
        await cx.deliver()
        assert NAME in json.dumps(cx.slack.home_views["U0ALICE"]), "her App Home shows the kudos naming Dana"
        updates_before = len(cx.slack.calls_to("chat.update"))

        result = erase(engine, cx.ws, Subject.of(email=EMAIL), actor_id=None, via="cli:test")
        await cx.deliver()

        assert found_in(dump(engine)) == [], "no name, email, phone, customer id or words left anywhere"
        assert all(found_in(t) == [] for t in slack_texts(cx)), "every Slack message that showed her was edited"
        assert any("details erased on request" in t for t in slack_texts(cx))
        assert found_in(json.dumps(cx.slack.home_views["U0ALICE"])) == [], "the App Home was published again"
        edits = cx.slack.calls_to("chat.update")[updates_before:]
        assert len(edits) >= 3, "the alert, the owner's DM and the thread reply quoting her"
        assert all_scores(engine) == scores, "every figure is unchanged"
        with Session(engine) as s:
            r = s.get(SurveyResponse, response_id)
            assert (r.survey, r.score, r.touchpoint, r.team) == ("nps", 2, "phone", "support")
            assert r.customer_name is None and r.customer_email is None and r.comment is None
            assert s.get(Case, case_id).status == "in_progress"
            omar = s.exec(select(SurveyResponse).where(SurveyResponse.external_id == "r-omar")).one()
            assert (omar.customer_name, omar.comment, omar.raw) == (omar_before.customer_name, OTHER_COMMENT,
                                                                    omar_before.raw), "another customer is untouched"
            audit = s.exec(select(AuditEntry).where(AuditEntry.action == "privacy.erase")).one()
        assert audit.id == result.audit_id and audit.new["counts"]["responses"] == 1
        assert found_in(json.dumps(audit.new) + audit.target) == [], "the audit log says how many, never what"
        assert result.counts["messages_edited"] >= 1 and result.counts["inbox_rows"] >= 1

        again = erase(engine, cx.ws, Subject.of(email=EMAIL), actor_id=None, via="cli:test")
        await cx.deliver()
        assert not again.found and "messages_edited" not in again.counts, "a second erasure finds nothing to do"


async def test_a_retried_webhook_and_a_reimported_csv_do_not_bring_an_erased_customer_back(engine, tmp_path: Path):
    async with CxHarness(engine, env=ENV) as cx:
        await seeded(cx)
        erase(engine, cx.ws, Subject.of(email=EMAIL), actor_id=None, via="cli:test")
        await cx.deliver()
        posts = len(cx.slack.calls_to("chat.postMessage"))

        status, body = await post_webhook(cx.url, webhook_body())
        assert (status, body["status"]) == (200, "erased")
        status, body = await post_webhook(cx.url, webhook_body("r-dana-resent-under-a-new-id", email=EMAIL.upper()))
        assert (status, body["status"]) == (200, "erased"), "her earlier answer under another id is hers too"

        csv = tmp_path / "export.csv"
        csv.write_text("id,survey,score,comment,customer_id,customer_name,customer_email,touchpoint,responded_at\n"
                       f"c-1,nps,2,\"{COMMENT}\",,{NAME},{EMAIL},phone,2026-11-24T09:30:00Z\n"
                       f"c-2,nps,9,fine,{CUSTOMER_ID},,,phone,2026-11-20T09:30:00Z\n"
                       "c-3,nps,9,Great service,,Someone Else,someone@example.com,phone,2026-11-20T09:30:00Z\n")
        report = import_csv(engine, cx.ws, csv)
        assert (report.imported, report.rejected) == (1, 2)
        assert [e.line for e in report.errors] == [2, 3]
        assert all("erased on request" in e.reason for e in report.errors)
        await cx.deliver()
        assert found_in(dump(engine)) == [] and len(cx.slack.calls_to("chat.postMessage")) == posts

        # A new answer, given after the erasure, is new data: stored as usual.
        cx.clock.now += timedelta(days=2)
        status, body = await post_webhook(cx.url, webhook_body("r-dana-new", responded_at=(
            cx.clock.now - timedelta(hours=1)).isoformat()))
        assert (status, body["status"]) == (202, "stored")


async def test_the_outbox_and_inbox_keep_no_copy_of_an_erased_customer(engine):
    async with CxHarness(engine, env=ENV) as cx:
        await seeded(cx)
        erase(engine, cx.ws, Subject.of(customer_id=CUSTOMER_ID), actor_id=None, via="cli:test")
        await cx.deliver()
        for row in rows(engine, OutboxMessage):
            assert found_in(json.dumps(row.payload)) == [], row.dedupe_key
        for item in rows(engine, InboxItem):
            assert found_in(item.body) == [], item.kind


async def test_erasing_needs_the_key_and_remembers_only_keyed_hashes(engine):
    async with CxHarness(engine, env=ENV) as cx:
        await seeded(cx)
        keys.install(None)
        with pytest.raises(keys.MissingKey, match="CXLOOP_PRIVACY_KEY"):
            erase(engine, cx.ws, Subject.of(email=EMAIL), actor_id=None, via="cli:test")
        assert found_in(dump(engine)) != [], "nothing was erased without the key"
        with pytest.raises(ConfigError, match="too short"):
            keys.from_text("short")
        keys.install(cx.settings)
        erase(engine, cx.ws, Subject.of(email=EMAIL), actor_id=None, via="cli:test")
        digests = {r.digest for r in rows(engine, ErasedIdentity)}
        key = keys.from_text(KEY)
        assert digests == {key.digest("email", EMAIL), key.digest("customer_id", CUSTOMER_ID)}
        assert keys.from_text("another-key-" + "9" * 40).digest("email", EMAIL) not in digests


async def test_edits_that_slack_refuses_at_first_are_retried_until_every_message_is_clean(engine):
    async with CxHarness(engine, env=ENV) as cx:
        await seeded(cx)
        erase(engine, cx.ws, Subject.of(email=EMAIL), actor_id=None, via="cli:test")
        cx.slack.fail_next("chat.update", status=500, times=3)
        await cx.deliver()
        assert any(found_in(t) for t in slack_texts(cx)), "Slack refused the first edits"
        for _ in range(6):
            cx.clock.now += timedelta(minutes=5)
            await cx.deliver()
        assert all(found_in(t) == [] for t in slack_texts(cx)), "the outbox retried every refused edit"


async def test_a_chat_erasure_whose_run_died_part_way_is_finished_by_the_next_run(engine):
    from bot.privacy.requests import carry_out, queue
    from storage.db import session_scope
    from storage.models_privacy import ErasureRequest

    async with CxHarness(engine, env=ENV) as cx:
        await seeded(cx)
        with session_scope(engine) as s:
            req = queue(s, Subject.of(email=EMAIL), actor_id=None, via="slack")
            # A run leased it, did the erasure and died before marking it done.
            s.get(ErasureRequest, req.id).locked_until = cx.clock.now + timedelta(minutes=15)
            s.get(ErasureRequest, req.id).attempts = 1
        erase(engine, cx.ws, Subject.of(email=EMAIL), actor_id=None, via="slack")
        assert carry_out(engine, cx.ws, cx.clock.now) == 0, "its lease still holds"
        assert carry_out(engine, cx.ws, cx.clock.now + timedelta(minutes=16)) == 1, "taken up again"
        await cx.deliver()
        with Session(engine) as s:
            done = s.get(ErasureRequest, req.id)
        assert (done.status, done.email, done.attempts) == ("done", None, 2)
        assert found_in(dump(engine)) == [] and all(found_in(t) == [] for t in slack_texts(cx))


def test_her_follow_up_and_what_she_said_in_it_are_exported_then_erased(engine):
    """A promoter's follow-up (issue 14) is hers: its notes hold her words even when they name nothing."""
    from bot.followup import service as followups
    from bot.followup.rules import Step
    from bot.people.roster import actor_for, member_by_slack, sync_workspace
    from storage.db import session_scope
    from storage.models import FollowUp, FollowUpStep
    from tests.conftest import TEST_NOW
    from tests.loops_factories import answer, workspace
    from tests.privacy_seed import install_key

    install_key()
    ws = workspace()
    with session_scope(engine) as s:
        sync_workspace(s, ws)
    said = "Loves the new onboarding flow and will refer her sister's bakery"
    mine = answer(engine, ws, score=10, at=TEST_NOW, email=EMAIL, name=NAME, customer_id=CUSTOMER_ID)
    theirs = answer(engine, ws, score=9, at=TEST_NOW, email=OTHER_EMAIL, name=OTHER_NAME)
    with session_scope(engine) as s:
        actor = actor_for(s, member_by_slack(s, "U0ALICE"))
        ids = {r.response_id: s.exec(select(FollowUp.id).where(FollowUp.response_id == r.response_id)).one()
               for r in (mine, theirs)}
        for fid in ids.values():
            followups.take(s, actor, fid, now=TEST_NOW)
            followups.tick(s, actor, fid, Step.THANK, note=None, now=TEST_NOW)
            followups.tick(s, actor, fid, Step.ASK, note=None, now=TEST_NOW)
            followups.tick(s, actor, fid, Step.RECORD, note=said, now=TEST_NOW)

    doc = export(engine, Subject.of(email=EMAIL), now=TEST_NOW)
    assert [f["response_id"] for f in doc["features"]["follow_up"]] == [mine.response_id]
    assert [st["note"] for st in doc["features"]["follow_up_step"] if st["note"]] == [said]

    erase(engine, ws, Subject.of(email=EMAIL), actor_id=None, via="cli:test")
    with Session(engine) as s:
        notes = {fid: [st.note for st in s.exec(select(FollowUpStep).where(FollowUpStep.follow_up_id == fid))
                       if st.note] for fid in ids.values()}
        follow_up = s.get(FollowUp, ids[mine.response_id])
    assert notes[ids[mine.response_id]] == ["details erased on request"]
    assert notes[ids[theirs.response_id]] == [said], "the other customer's follow-up, in the same words, is kept"
    assert follow_up.status == "done", "what the figures count stays"
