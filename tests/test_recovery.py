"""Recovery: a customer who answers again after their loop was closed is linked to the case (by
customer id, else by email, never when ambiguous), the thread says what changed, the closer is
credited once; `cxloop report loops` counts it all (figures worked out by hand below)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

import aiohttp
from sqlmodel import Session, select

from bot.config import load_workspace
from bot.followup import service as followups
from bot.people.roster import actor_for, member_by_slack, sync_workspace
from handlers.intake.signing import sign_generic
from storage.db import session_scope
from storage.models import CaseRecovery, Shoutout
from tests.conftest import cli_env
from tests.harness import CxHarness, text_of
from tests.loops_factories import answer, close_loop, follow_ups


def at(day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=timezone.utc)


def recoveries(engine) -> list[CaseRecovery]:
    with Session(engine) as s:
        return list(s.exec(select(CaseRecovery).order_by(CaseRecovery.id)))


def recovery_shoutouts(engine) -> list[Shoutout]:
    with Session(engine) as s:
        return list(s.exec(select(Shoutout).where(Shoutout.source == "recovery")))


async def post_generic(cx: CxHarness, payload: dict) -> int:
    body = json.dumps(payload).encode()
    async with aiohttp.ClientSession() as http:
        async with http.post(cx.url.rstrip("/") + "/webhooks/generic", data=body,
                             headers={"X-Cxloop-Signature": sign_generic(body, "s3cret")}) as r:
            return r.status


async def test_a_customer_who_answers_again_after_the_loop_is_linked_and_the_closer_credited_once(engine):
    async with CxHarness(engine, env={"cxloop_webhook_secret": "s3cret"}) as cx:
        ws = cx.ws
        case = answer(engine, ws, score=3, at=at(20), customer_id="c-77", email="dana@example.com").case_id
        close_loop(engine, ws, case, owner="U0ALICE", at=at(20, 11), closed=at(23, 12))
        await cx.deliver()
        again = {"id": "r-again", "survey": "nps", "score": 9, "comment": "Much better now",
                 "customer": {"id": "c-77", "name": "Dana Reyes"}, "touchpoint": "phone",
                 "responded_at": "2026-11-25T09:00:00Z"}
        assert await post_generic(cx, again) == 202
        assert await post_generic(cx, again) == 200  # a repeat: nothing more
        assert await post_generic(cx, {**again, "id": "r-third", "score": 10}) == 202  # only the first counts
        await cx.deliver()
        (link,) = recoveries(engine)
        assert (link.case_id, link.matched_by, link.before_score, link.after_score, link.recovered) == (
            case, "customer_id", 3, 9, True)
        notes = [text_of(m) for m in cx.thread(case) if "after the loop was closed" in text_of(m)]
        assert len(notes) == 1 and "Dana answered 9 after the loop was closed: recovered" in notes[0]
        (shout,) = recovery_shoutouts(engine)
        with Session(engine) as s:
            assert shout.to_member_id == member_by_slack(s, "U0ALICE").id
        won = [m for m in cx.posted("C0SUPPORT") if "won a customer back" in text_of(m)]
        assert len(won) == 1 and "<@U0ALICE>" in text_of(won[0])


async def test_linking_by_email_ignores_case_and_says_when_they_are_not_won_back(engine):
    async with CxHarness(engine) as cx:
        ws = cx.ws
        case = answer(engine, ws, score=1, survey="csat", at=at(16), email="Lee@Example.com", name="Lee Park").case_id
        close_loop(engine, ws, case, owner="U0BOB", at=at(16, 11), closed=at(23, 9))
        answer(engine, ws, score=1, survey="csat", at=at(24, 12), email="lee@example.com", name="Lee Park")
        await cx.deliver()
        (link,) = recoveries(engine)
        assert (link.case_id, link.matched_by, link.recovered) == (case, "email", False)
        assert any("Lee answered 1 after the loop was closed: not won back yet" in text_of(m) for m in cx.thread(case))
        assert recovery_shoutouts(engine) == []


async def test_an_email_shared_by_two_customers_links_nothing(engine):
    async with CxHarness(engine) as cx:
        ws = cx.ws
        case = answer(engine, ws, score=2, at=at(20), customer_id="c-1", email="desk@example.com").case_id
        answer(engine, ws, score=8, at=at(20, 11), customer_id="c-2", email="desk@example.com")
        close_loop(engine, ws, case, owner="U0ALICE", at=at(20, 12), closed=at(21, 9))
        answer(engine, ws, score=9, at=at(24), email="desk@example.com")  # which of the two? no one can tell
        answer(engine, ws, score=9, at=at(24, 11), customer_id="c-3", email="other@example.com")  # someone else
        assert recoveries(engine) == []


def report(db_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "handlers.cli", "report", "loops", *args], capture_output=True,
                          text=True, env=cli_env(DATABASE_URL=db_url), timeout=120)


def test_report_loops_counts_cases_loops_recoveries_retention_and_follow_ups(engine, db_url):
    ws = load_workspace()
    with session_scope(engine) as s:
        sync_workspace(s, ws)
    # support: A closed in time and won back; B closed late, answered again no better (that answer is case F);
    # C not closed, answered again; D not closed, never again. billing: E closed in time, never again.
    a = answer(engine, ws, score=3, at=at(20, 10, 15), customer_id="c-77", name="Dana").case_id
    b = answer(engine, ws, score=1, survey="csat", at=at(16, 9), email="Lee@Example.com", name="Lee").case_id
    answer(engine, ws, score=4, at=at(19), customer_id="c-5", name="Kim")
    answer(engine, ws, score=5, at=at(19, 11), customer_id="c-6", name="Joe")
    e = answer(engine, ws, score=2, at=at(18), customer_id="c-8", touchpoint="billing").case_id
    close_loop(engine, ws, a, owner="U0ALICE", at=at(20, 11), closed=at(23, 12))
    close_loop(engine, ws, b, owner="U0BOB", at=at(16, 10), closed=at(23, 9))
    close_loop(engine, ws, e, owner="U0PRIYA", at=at(18, 11), closed=at(19))
    answer(engine, ws, score=3, survey="csat", at=at(24), customer_id="c-5", name="Kim")  # neutral: no case
    answer(engine, ws, score=1, survey="csat", at=at(24, 12), email="lee@example.com", name="Lee")  # case F
    answer(engine, ws, score=9, at=at(25, 9), customer_id="c-77", name="Dana")  # a follow-up too
    (fu,) = follow_ups(engine)
    with session_scope(engine) as s:
        followups.take(s, actor_for(s, member_by_slack(s, "U0CARLOS")), fu.id, now=at(25, 9, 30))

    run = report(db_url, "--by", "team", "--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert (doc["since"], doc["until"], doc["by"]) == (None, None, "team")
    support, billing = doc["groups"]
    assert support == {
        "key": "support", "detractor_cases": 5, "loops_closed": 2, "closed_within_sla": 1, "answered_again": 2,
        "recovered": 1, "recovery_rate": 50.0,
        "retention": {"loop_closed": {"customers": 2, "returned": 2, "rate": 100.0},
                      "loop_not_closed": {"customers": 3, "returned": 1, "rate": 33.3}},
        "follow_ups": {"new": 1, "taken": 1, "done": 0}}
    assert billing == {
        "key": "billing", "detractor_cases": 1, "loops_closed": 1, "closed_within_sla": 1, "answered_again": 0,
        "recovered": 0, "recovery_rate": None,
        "retention": {"loop_closed": {"customers": 1, "returned": 0, "rate": 0.0},
                      "loop_not_closed": {"customers": 0, "returned": 0, "rate": None}},
        "follow_ups": {"new": 0, "taken": 0, "done": 0}}

    (everyone,) = json.loads(report(db_url, "--json").stdout)["groups"]
    assert (everyone["key"], everyone["detractor_cases"], everyone["loops_closed"], everyone["recovery_rate"],
            everyone["retention"]["loop_closed"]["rate"]) == ("all", 6, 3, 50.0, 66.7)
    # --since inclusive, --until exclusive, on when the case was opened (dates: London midnight)
    (only_b,) = [g for g in json.loads(report(db_url, "--since", "2026-11-16", "--until", "2026-11-18",
                                              "--by", "team", "--json").stdout)["groups"]]
    assert (only_b["key"], only_b["detractor_cases"], only_b["answered_again"], only_b["recovered"]) == (
        "support", 1, 1, 0)
    table = report(db_url, "--by", "team")
    assert table.returncode == 0 and "support" in table.stdout and "50.0%" in table.stdout
    bad = report(db_url, "--since", "2026-11-20", "--until", "2026-11-01")
    assert bad.returncode == 2 and "--since must be before --until" in bad.stderr
    assert report(db_url, "--since", "last week").returncode == 2


def test_the_weekly_digest_counts_follow_ups_and_customers_won_back(engine):
    from bot.reporting import digest
    from bot.reporting.messages import digest_message

    ws = load_workspace()
    with session_scope(engine) as s:
        sync_workspace(s, ws)
    a = answer(engine, ws, score=3, at=at(20), customer_id="c-77", name="Dana").case_id
    close_loop(engine, ws, a, owner="U0ALICE", at=at(20, 11), closed=at(23, 12))
    answer(engine, ws, score=9, at=at(25, 9), customer_id="c-77", name="Dana")  # won back, and a follow-up
    answer(engine, ws, score=8, at=at(24), customer_id="c-2", name="Ola")  # a passive: a follow-up
    msg = digest_message(digest.compute_digest(engine, ws, "support", at(23, 0), at(30, 0)), chart=False)
    shown = " ".join(msg.model_dump_json().split())
    assert "2 new this week · 0 taken · 0 done" in shown
    assert "1 of 1 customers who answered again after their loop was closed (100.0% recovery rate)" in shown
