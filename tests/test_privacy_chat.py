"""Customers' data in chat: `/cx privacy erase` for admins with a confirmation dialog, Teams cards edited on
erasure, retention windows that erase exactly what is older than them, and who sees full contact details."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import yaml
from sqlmodel import Session, select

from bot.config import ConfigError, load_workspace, parse_workspace
from bot.intake.store import record_response
from bot.intake.surveys import build_response
from bot.privacy.erase import erase
from bot.privacy.holdings import Subject
from handlers.jobs import run_due
from standins.teams_cards import text_of as teams_text
from storage.models import AuditEntry, SurveyResponse
from storage.models_privacy import ErasureRequest
from tests.harness import CxHarness, text_of
from tests.privacy_seed import EMAIL, ENV, dana_response, NAME, WORDS, all_scores, dump, found_in, install_key, webhook_body
from tests.teams_harness import ALICE, SUPPORT, WEBHOOK_SECRET, TeamsHarness


async def test_an_admin_erases_a_customer_from_chat_after_confirming_and_hears_when_it_is_done(engine):
    async with CxHarness(engine, env=ENV) as cx:
        record_response(engine, cx.ws, dana_response())
        await cx.deliver()
        refused = (await cx.command("U0MANAGER", f"privacy erase {EMAIL}")).json()
        assert "needs the admin role" in refused["text"]

        reply = (await cx.command("U0ADMIN", f"privacy erase {EMAIL}")).json()
        shown = json.dumps(reply, ensure_ascii=False)
        assert "1 survey response and 1 case" in shown and "d…@example.org" in shown
        assert EMAIL not in json.dumps(reply["blocks"][0]), "the email is masked where it is shown"
        await cx.click("U0ADMIN", reply, "privacy_erase", channel="C0ADMIN")
        modal = cx.last_modal()
        assert "Erase customer data" in json.dumps(modal)
        wrong = (await cx.submit("U0ADMIN", modal, {"confirm": "yes"})).json()
        assert wrong["response_action"] == "errors" and "Type ERASE" in wrong["errors"]["confirm"]
        with Session(engine) as s:
            assert s.exec(select(ErasureRequest)).all() == [], "nothing is queued before it is confirmed"
        await cx.submit("U0ADMIN", modal, {"confirm": "erase"})
        with Session(engine) as s:
            req = s.exec(select(ErasureRequest)).one()
        assert (req.status, req.email) == ("pending", EMAIL)

        summary = await run_due(engine, cx.ws, cx.settings, at=cx.clock.now, deliverer=cx.deliverer)
        assert summary["queued"]["privacy_erasures"] == 1
        await cx.deliver()
        with Session(engine) as s:
            req = s.exec(select(ErasureRequest)).one()
            audit = s.exec(select(AuditEntry).where(AuditEntry.action == "privacy.erase")).one()
        assert (req.status, req.email, req.customer_id) == ("done", None, None)
        assert audit.actor_id == req.requested_by and audit.target == "customer via slack"
        assert found_in(dump(engine)) == [] and found_in(text_of(cx.alert(1))) == []
        admin_dm = cx.slack.messages(cx.slack.dm_channel("U0ADMIN"))
        assert any(f"Erasure request #{req.id} is done" in text_of(m) for m in admin_dm)
        again = await run_due(engine, cx.ws, cx.settings, at=cx.clock.now, deliverer=cx.deliverer)
        assert again["queued"]["privacy_erasures"] == 0, "carried out once"


async def test_erasing_edits_the_teams_card_that_showed_the_customer(engine):
    import aiohttp

    from handlers.intake.signing import sign_generic

    async with TeamsHarness(engine) as cx:
        install_key()
        await cx.install()
        body = webhook_body()
        base = cx.bot_url.rsplit("/api/messages", 1)[0]
        async with aiohttp.ClientSession() as http:
            async with http.post(base + "/webhooks/generic", data=body,
                                 headers={"X-Cxloop-Signature": sign_generic(body, WEBHOOK_SECRET)}) as r:
                assert r.status == 202
        await cx.deliver()
        await cx.click(ALICE, cx.alert(1), "Take it")
        await cx.deliver()
        assert NAME in teams_text(cx.alert(1)) and NAME in teams_text(cx.dm(ALICE)[0])
        versions = cx.alert(1)["versions"]

        erase(engine, cx.ws, Subject.of(email=EMAIL), actor_id=None, via="cli:test")
        await cx.deliver()
        alert = cx.alert(1)
        assert alert["versions"] > versions, "the card was updated in place"
        assert found_in(teams_text(alert)) == [] and all(found_in(teams_text(m)) == [] for m in cx.dm(ALICE))
        assert all(found_in(teams_text(m)) == [] for m in cx.teams.activities(SUPPORT))
        assert found_in(dump(engine)) == []


def answer(engine, ws, ext: str, days_ago: float, now, comment: str, name: str) -> None:  # type: ignore[no-untyped-def]
    at = now - timedelta(days=days_ago)
    record_response(engine, ws, build_response({
        "source": "generic", "external_id": ext, "survey": "nps", "score": 2, "comment": comment,
        "customer_name": name, "customer_email": f"{ext}@example.org", "touchpoint": "phone", "raw": {"n": ext},
        "responded_at": at.isoformat()}, now=at), now=at)


def retention_ws(**windows: str):  # type: ignore[no-untyped-def]
    data = load_workspace().model_dump(mode="json")
    data["retention"] = {"delivery": "14d", **windows}
    return parse_workspace(data)


async def test_retention_windows_erase_exactly_what_is_older_than_them(engine):
    ws = retention_ws(customer_details="30d", comments="60d", raw_bodies="10d")
    async with CxHarness(engine, workspace=ws, env=ENV) as cx:
        now = cx.clock.now
        ages = {"fresh": 5, "raw-only": 11, "details-gone": 31, "all-gone": 61}
        story = {"fresh": "the app crashed twice", "raw-only": "my card was charged before delivery",
                 "details-gone": "the driver could not find the entrance", "all-gone": WORDS}
        for ext, days in ages.items():
            answer(engine, ws, ext, days, now, f"Comment of {ext}: {story[ext]}", f"Person {ext.title()}")
        await cx.deliver()
        scores = all_scores(engine)
        summary = await run_due(engine, ws, cx.settings, at=now, deliverer=cx.deliverer)
        assert summary["expired"] == {"customer_details": 2, "comments": 1, "raw_bodies": 4 - 1 - 2}
        with Session(engine) as s:
            r = {x.external_id: x for x in s.exec(select(SurveyResponse))}
        assert r["fresh"].customer_name and r["fresh"].comment and r["fresh"].raw
        assert r["raw-only"].customer_name and r["raw-only"].comment and not r["raw-only"].raw
        assert r["details-gone"].customer_name is None and r["details-gone"].customer_email is None
        assert r["details-gone"].comment.startswith("Comment of details-gone")
        assert (r["all-gone"].customer_name, r["all-gone"].comment) == (None, None)
        assert all_scores(engine) == scores
        # The alerts of the older ones were edited: no name; the oldest shows no words either.
        case_of = {ext: n for n, ext in enumerate(ages, start=1)}
        assert "Person Fresh" in text_of(cx.alert(case_of["fresh"]))
        assert "Person Details-Gone" not in text_of(cx.alert(case_of["details-gone"]))
        assert "Comment of details-gone" in text_of(cx.alert(case_of["details-gone"]))
        assert "Comment of all-gone" not in text_of(cx.alert(case_of["all-gone"]))
        assert "all-gone@example.org" not in dump(engine) and "Comment of all-gone" not in dump(engine)
        same_hour = await run_due(engine, ws, cx.settings, at=now, deliverer=cx.deliverer)
        assert "expired" not in same_hour, "once an hour"
        cx.clock.now = now + timedelta(hours=1)
        again = await run_due(engine, ws, cx.settings, at=cx.clock.now, deliverer=cx.deliverer)
        assert "expired" not in again, "nothing is left to expire"
        cx.clock.now = now + timedelta(days=5, hours=1)
        later = await run_due(engine, ws, cx.settings, at=cx.clock.now, deliverer=cx.deliverer)
        assert later["expired"] == {"raw_bodies": 1}, "the fresh one's raw body, now 10 days old"


@pytest.mark.parametrize("windows, error", [
    ({"comments": "2h"}, "retention.comments: 2h is too short; keep them at least 1d"),
    ({"raw_bodies": "soon"}, "retention.raw_bodies: 'soon' is not a duration"),
    ({"customer_detail": "30d"}, "retention.customer_detail: is not a known key"),
])
def test_a_bad_retention_window_is_refused_naming_the_key(windows, error):
    data = yaml.safe_load(open("bot/data/workspace.yaml", encoding="utf-8"))
    data["retention"] = windows
    with pytest.raises(ConfigError, match=error.replace("(", r"\(").replace(")", r"\)")):
        parse_workspace(data)


async def test_full_contact_details_only_for_the_owner_and_the_teams_managers(engine):
    async with CxHarness(engine, env=ENV) as cx:
        record_response(engine, cx.ws, dana_response())
        await cx.deliver()
        assert EMAIL not in text_of(cx.alert(1)), "masked in the channel"
        await cx.click("U0ALICE", cx.alert(1), "case_take")
        owner = json.dumps((await cx.command("U0ALICE", "case 1")).json())
        manager = json.dumps((await cx.command("U0MANAGER", "case 1")).json())
        colleague = json.dumps((await cx.command("U0BOB", "case 1")).json(), ensure_ascii=False)
        assert EMAIL in owner and EMAIL in manager
        assert EMAIL not in colleague and "d…@example.org" in colleague


async def test_an_admin_erases_a_customer_from_teams_through_the_dialog(engine):
    from tests.teams_harness import PEOPLE, dialog_card

    admin = PEOPLE["U0ADMIN"][0]
    async with TeamsHarness(engine) as cx:
        install_key()
        await cx.install()
        chat = await cx.teams.install_personal(cx.bot_url, admin)
        record_response(engine, cx.ws, dana_response())
        await cx.deliver()
        assert NAME in teams_text(cx.alert(1))
        status, _ = await cx.teams.message(cx.bot_url, admin, f"cx privacy erase {EMAIL}", conversation=chat)
        assert status == 200
        await cx.deliver()
        reply = [a for a in cx.teams.activities(chat) if "Erase the data of" in teams_text(a)][-1]
        assert EMAIL not in teams_text(reply) and "d…@example.org" in teams_text(reply)
        dialog = await cx.click(admin, reply, "Erase…")
        assert "Type ERASE to confirm" in json.dumps(dialog_card(dialog))
        assert await cx.submit(admin, dialog, {"confirm": "ERASE"}, reply) is not None
        summary = await run_due(engine, cx.ws, cx.settings, at=cx.clock.now, deliverer=cx.deliverer)
        assert summary["queued"]["privacy_erasures"] == 1
        await cx.deliver()
        assert found_in(teams_text(cx.alert(1))) == [] and found_in(dump(engine)) == []
        assert any("is done" in teams_text(a) for a in cx.teams.activities(chat))
