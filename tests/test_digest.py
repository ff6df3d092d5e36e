"""The weekly digest: figures on a seeded week, the chart, the schedule, and `/cx digest`."""

from __future__ import annotations

import base64
import io
import json
import threading
from datetime import datetime, timedelta, timezone

from sqlmodel import Session, select

from bot.cases import service as cases
from bot.cases.resolved import STEPS, ResolvedStep
from bot.chat.messages import Fields, Image, Mention, Quote
from bot.config import Workspace, load_workspace, parse_workspace
from bot.intake.store import record_response
from bot.intake.surveys import build_response
from bot.machinery.schedule import run_due_jobs
from bot.people.roster import actor_for, member_by_slack, sync_workspace
from bot.reporting import digest, weeks
from bot.reporting import jobs as digest_jobs
from bot.reporting import messages as digest_messages
from handlers.jobs import run_due
from storage.db import make_engine, session_scope
from storage.models import JobClaim, OutboxMessage, Shoutout
from tests.harness import CxHarness, text_of

UTC = timezone.utc
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# The reported week: Monday 16 to Sunday 22 November 2026 (London is on UTC in November).
WEEK = (datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))
DIGEST_AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 09:00 Europe/London


def nov(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def answer(engine, ws, ext: str, survey: str, score: int, when: datetime, comment: str | None = None,
           touchpoint: str = "phone") -> int | None:
    r = build_response({"source": "generic", "external_id": ext, "survey": survey, "score": score,
                        "comment": comment, "touchpoint": touchpoint, "responded_at": when.isoformat()})
    return record_response(engine, ws, r, now=when).case_id


def work(engine, cid: int, who: str, *, take: datetime, respond: datetime | None = None,
         resolve: datetime | None = None, cause: str = "processes", loop: datetime | None = None) -> None:
    """Take a case, respond, tick the remaining steps at `resolve`, and close the loop at `loop`."""
    with session_scope(engine) as s:
        actor = actor_for(s, member_by_slack(s, who))
        cases.take(s, actor, cid, now=take)
        if respond:
            cases.tick_step(s, actor, cid, ResolvedStep.RESPOND, now=respond)
        if resolve:
            for step in STEPS[1:]:
                extra: dict = {}
                if step is ResolvedStep.VERIFY:
                    extra = {"customer_agreed": True}
                if step is ResolvedStep.DOCUMENT:
                    extra = {"root_cause": cause, "note": "Why it happened and what we changed."}
                cases.tick_step(s, actor, cid, step, now=resolve, **extra)
        if loop:
            cases.close_loop(s, actor, cid, how="phone", when=loop, now=loop)


def shoutout(engine, to: str, text: str, when: datetime, *, by: str | None = "U0BOB", team: str = "support",
             status: str = "posted", source: str = "peer") -> None:
    with session_scope(engine) as s:
        giver = member_by_slack(s, by).id if by else None
        s.add(Shoutout(team=team, to_member_id=member_by_slack(s, to).id, from_member_id=giver, source=source,
                       text=text, status=status, created_at=when))


def roster(engine, ws: Workspace) -> None:
    with session_scope(engine) as s:
        sync_workspace(s, ws)


LONG_PRAISE = "Everything about the order was great. " * 8  # over 300 characters


def seed(engine, ws: Workspace) -> dict[str, int]:
    """A small, fully known history: the reported week, the week before, and one answer in October."""
    roster(engine, ws)
    ids: dict[str, int] = {}
    answer(engine, ws, "oct", "nps", 9, datetime(2026, 10, 5, 10, tzinfo=UTC))  # 6 weeks earlier: NPS 100
    # The week before (9-15 Nov): NPS 10, 10, 10, 7, 2, 1 -> (3 - 2) / 6 = 16.7; CSAT 5, 3 -> 50.
    for i, (score, day) in enumerate([(10, 9), (10, 10), (10, 11), (7, 11)]):
        answer(engine, ws, f"p{i}", "nps", score, nov(day, 9))
    ids["E"] = answer(engine, ws, "pE", "nps", 2, nov(9, 10), "Never heard back.")  # untouched: overdue
    ids["F"] = answer(engine, ws, "pF", "nps", 1, nov(10, 10), "Broken on arrival.")
    answer(engine, ws, "pc1", "csat", 5, nov(12, 9))
    answer(engine, ws, "pc2", "csat", 3, nov(12, 10))
    # F: responded the week before; resolved and loop closed this week, after its resolve-by (Sun 15, 10:00).
    work(engine, ids["F"], "U0CARLOS", take=nov(10, 10, 30), respond=nov(10, 11), resolve=nov(16, 12),
         cause="personnel", loop=nov(16, 14))

    # The week (16-22 Nov). NPS 10, 9, 8, 3, 5 -> (2 - 2) / 5 = 0.0; CSAT 5, 4, 4, 2 -> 75; CES 4, 3 -> 50.0.
    answer(engine, ws, "w1", "nps", 10, nov(17, 10), "Sorted in minutes — brilliant service!")
    answer(engine, ws, "w2", "nps", 9, nov(17, 11))
    answer(engine, ws, "w3", "nps", 8, nov(18, 8))
    ids["A"] = answer(engine, ws, "wA", "nps", 3, nov(18, 9), "Waited 40 minutes on hold. <!channel> fix your phones")
    ids["B"] = answer(engine, ws, "wB", "nps", 5, nov(19, 9), "Nobody called back.")
    ids["C"] = answer(engine, ws, "wC", "csat", 2, nov(20, 12))  # unclaimed: overdue by Saturday noon
    answer(engine, ws, "wc1", "csat", 5, nov(21, 10), LONG_PRAISE)
    answer(engine, ws, "wc2", "csat", 4, nov(17, 12))
    answer(engine, ws, "wc3", "csat", 4, nov(18, 12))
    answer(engine, ws, "we1", "ces", 4, nov(19, 15))
    answer(engine, ws, "we2", "ces", 3, nov(20, 15))
    ids["D"] = answer(engine, ws, "wD", "nps", 0, nov(18, 9), "Billing mess", touchpoint="billing")  # not support's
    # A: responded after 3 h 20 min, resolved after 2 days, loop closed well within its resolve-by (Mon 23, 09:00).
    work(engine, ids["A"], "U0ALICE", take=nov(18, 9, 30), respond=nov(18, 12, 20), resolve=nov(20, 9),
         loop=nov(20, 10))
    # B: responded after 26 h, still being worked on (resolve-by Tue 24, 09:00: not overdue yet).
    work(engine, ids["B"], "U0BOB", take=nov(19, 10), respond=nov(20, 11))

    shoutout(engine, "U0ALICE", "Thanks for covering my queue on Friday!", nov(19, 16))
    shoutout(engine, "U0BOB", "Customer praise awaiting approval", nov(19, 17), by=None, source="customer",
             status="pending")
    shoutout(engine, "U0CARLOS", "Last week's thanks", nov(12, 16))
    shoutout(engine, "U0PRIYA", "Billing team thanks", nov(19, 16), by="U0TOM", team="billing")
    return ids


# --- the figures -----------------------------------------------------------------------------


def test_week_figures_match_hand_computed_values(engine):
    ws = load_workspace()
    seed(engine, ws)
    data = digest.compute_digest(engine, ws, "support", *WEEK)

    assert (data.scores.nps.responses, data.scores.nps.promoters, data.scores.nps.passives,
            data.scores.nps.detractors, data.scores.nps.score) == (5, 2, 1, 2, 0.0)
    assert (data.scores.csat.responses, data.scores.csat.satisfied, data.scores.csat.score) == (4, 3, 75)
    assert (data.scores.ces.responses, data.scores.ces.agree, data.scores.ces.score) == (2, 1, 50.0)
    assert (data.previous.nps.score, data.previous.csat.score, data.previous.ces.score) == (16.7, 50, None)

    c = data.cases
    assert (c.opened, c.resolved, c.first_responses) == (3, 2, 2)  # A, B, C opened; A and F resolved
    assert (c.overdue_open, c.resolved_late, c.overdue) == (2, 1, 3)  # C and E still open late; F resolved late
    assert (c.loops_closed, c.loops_closed_in_sla, c.loop_closure_rate) == (2, 1, 50)
    assert c.median_first_response == timedelta(hours=14, minutes=40)  # (3 h 20 + 26 h) / 2
    assert c.median_resolution == timedelta(hours=97)  # (48 h + 146 h) / 2
    assert [(cause.value, n) for cause, n in data.root_causes] == [("personnel", 1), ("processes", 1)]

    # A mix: the promoter's praise, then the newest complaint, then the other; the long comment loses.
    assert [q.text for q in data.quotes] == ["Sorted in minutes — brilliant service!", "Nobody called back.",
                                             "Waited 40 minutes on hold. <!channel> fix your phones"]
    assert [(sh.to.slack_user_id, sh.by.slack_user_id if sh.by else None) for sh in data.shoutouts] == [
        ("U0ALICE", "U0BOB")]
    assert [(p.slack_user_id, n) for p, n in data.loops_closed_well] == [("U0ALICE", 1)]  # never Carlos (late)

    # Eight weeks, oldest first; weeks with no answers are gaps (None), never zeros.
    assert [w.monday.isoformat() for w in data.trend][0] == "2026-09-28"
    assert [w.scores.nps.score for w in data.trend] == [None, 100.0, None, None, None, None, 16.7, 0.0]
    assert [w.scores.csat.score for w in data.trend][-2:] == [50, 75]


def test_digest_message_shows_the_figures_and_keeps_customer_text_in_quotes(engine):
    ws = load_workspace()
    seed(engine, ws)
    msg = digest_messages.digest_message(digest.compute_digest(engine, ws, "support", *WEEK))
    doc = json.dumps(msg.model_dump(mode="json"), ensure_ascii=False)
    for expected in ("Customer Support: weekly digest", "0.0", "▼ −16.7 vs. the week before", "75%",
                     "▲ +25 pts vs. the week before", "50.0%", "no answers the week before",
                     "14 h 40 min", "4 d 1 h", "50% within the resolve SLA (1 of 2)",
                     "2 still open past a due time at the week's end · 1 resolved late",
                     "Personnel 1 · Processes and technology 1", "Loops closed well"):
        assert expected in doc, expected
    quotes = [b for b in msg.blocks if isinstance(b, Quote)]
    assert any("<!channel>" in q.text for q in quotes)
    # Customer (and colleague) words appear only in Quote blocks.
    for b in msg.blocks:
        if not isinstance(b, Quote):
            assert "<!channel>" not in json.dumps(b.model_dump(mode="json"))
            assert "Nobody called back" not in json.dumps(b.model_dump(mode="json"))
    mentions = [s.person.slack_user_id for b in msg.blocks for s in getattr(b, "spans", []) if isinstance(s, Mention)]
    assert "U0ALICE" in mentions and "U0CARLOS" not in mentions
    assert "NPS 0.0" in msg.text and "CSAT 75%" in msg.text


def test_chart_is_a_small_readable_png(engine):
    ws = load_workspace()
    seed(engine, ws)
    msg = digest_messages.digest_message(digest.compute_digest(engine, ws, "support", *WEEK))
    images = [b for b in msg.blocks if isinstance(b, Image)]
    assert len(images) == 1
    png = base64.b64decode(images[0].png_base64)
    assert png[:8] == PNG_MAGIC and 5_000 < len(png) < 200_000
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(png)) as pic:
        assert pic.format == "PNG" and pic.size == (900, 450)
    import matplotlib.image as mpimg

    assert mpimg.imread(io.BytesIO(png), format="png").shape[:2] == (450, 900)
    assert images[0].filename == "digest-support-2026-11-16.png" and "gaps are weeks with no answers" in images[0].alt


def test_an_empty_week_says_so_plainly(engine):
    ws = load_workspace()
    roster(engine, ws)
    old = answer(engine, ws, "old", "nps", 1, datetime(2026, 10, 28, 10, tzinfo=UTC), "Still waiting")
    assert old is not None
    data = digest.compute_digest(engine, ws, "support", *WEEK)
    assert data.is_empty
    msg = digest_messages.digest_message(data)
    text = json.dumps(msg.model_dump(mode="json"), ensure_ascii=False)
    assert "No survey answers and no case activity for Customer Support last week." in text
    assert "1 case was still open past a due time" in text
    assert not [b for b in msg.blocks if isinstance(b, (Image, Fields, Quote))]
    assert "NPS" not in text


def test_long_comments_are_cut_only_when_nothing_shorter_is_there(engine):
    ws = load_workspace()
    roster(engine, ws)
    answer(engine, ws, "long", "csat", 5, nov(18, 10), LONG_PRAISE)
    (quote,) = digest.compute_digest(engine, ws, "support", *WEEK).quotes
    assert len(quote.text) <= digest.QUOTE_CHARS + 1 and quote.text.endswith("…")
    assert quote.cut_from == len(" ".join(LONG_PRAISE.split()))


def test_format_span():
    assert digest_messages.format_span(timedelta(minutes=45)) == "45 min"
    assert digest_messages.format_span(timedelta(hours=3, minutes=20)) == "3 h 20 min"
    assert digest_messages.format_span(timedelta(hours=26)) == "26 h"
    assert digest_messages.format_span(timedelta(days=4, hours=1)) == "4 d 1 h"
    assert digest_messages.format_span(timedelta(days=3)) == "3 d"


# --- when it is due --------------------------------------------------------------------------


def _ws(**changes) -> Workspace:
    return parse_workspace({**load_workspace().model_dump(mode="json"), **changes})


def test_due_at_monday_0900_local_across_a_clock_change():
    ws = load_workspace()  # Europe/London; summer time starts on Sunday 29 March 2026
    assert weeks.due_digest(ws, datetime(2026, 3, 30, 7, 59, tzinfo=UTC)) is None  # 08:59 BST
    due = weeks.due_digest(ws, datetime(2026, 3, 30, 8, 0, tzinfo=UTC))
    assert due is not None and due.at == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)
    # Monday 23 March 00:00 GMT to Monday 30 March 00:00 BST: a week of 167 hours.
    assert (due.week_start, due.week_end) == (datetime(2026, 3, 23, tzinfo=UTC), datetime(2026, 3, 29, 23, tzinfo=UTC))


def test_configured_day_time_and_zone_with_catch_up_limit():
    ws = _ws(timezone="America/New_York", digest={"day": 4, "time": "16:30"})
    friday = datetime(2026, 11, 27, 21, 30, tzinfo=UTC)  # 16:30 in New York
    assert weeks.due_digest(ws, friday - timedelta(minutes=1)) is None
    due = weeks.due_digest(ws, friday)
    assert due is not None and due.week_start == datetime(2026, 11, 16, 5, tzinfo=UTC)  # Monday 00:00 EST
    late = weeks.due_digest(ws, datetime(2026, 11, 30, 15, tzinfo=UTC))  # the next Monday: still catching up
    assert late is not None and late.week_start == due.week_start
    assert weeks.due_digest(ws, friday + timedelta(days=6, minutes=1)) is None  # never more than 6 days late


# --- the scheduled job -----------------------------------------------------------------------


def digest_posts(cx: CxHarness) -> list[dict]:
    out = []
    for call in cx.slack.calls_to("chat.postMessage"):
        key = ((call.body.get("metadata") or {}).get("event_payload") or {}).get("key", "")
        if ":digest:" in key:
            out.append(call.body)
    return out


async def tick(cx: CxHarness, at: datetime) -> dict:
    summary = await run_due(cx.engine, cx.ws, cx.settings, at=at, deliverer=cx.deliverer)
    await cx.deliverer.drain()
    return summary


async def test_scheduled_digest_posts_at_0900_once_with_its_chart(engine, db_url):
    async with CxHarness(engine) as cx:
        seed(engine, cx.ws)
        await tick(cx, DIGEST_AT - timedelta(minutes=1))
        assert digest_posts(cx) == []
        summary = await tick(cx, DIGEST_AT)
        assert summary["queued"]["digest"] == 3
        posts = digest_posts(cx)
        assert sorted(p["channel"] for p in posts) == ["C0BILLING", "C0DELIVERY", "C0SUPPORT"]
        support = next(p for p in posts if p["channel"] == "C0SUPPORT")
        assert support["metadata"]["event_payload"]["key"] == "slack:digest:support:2026-11-16"
        shown = text_of(support)
        assert "Customer Support: weekly digest" in shown and "14 h 40 min" in shown
        # Customer text is inert on the wire: no broadcast, the quote still readable.
        assert "<!channel>" not in json.dumps(support) and "&lt;!channel&gt;" in json.dumps(support)
        empty = next(p for p in posts if p["channel"] == "C0DELIVERY")
        assert "No survey answers and no case activity for Delivery &amp; Returns last week." in text_of(empty)

        # The chart went up with files_upload_v2, in the digest's thread.
        # (Billing has an answer this week too; Delivery has none, so no chart.)
        asked = cx.slack.calls_to("files.getUploadURLExternal")
        assert sorted(c.body["filename"] for c in asked) == ["digest-billing-2026-11-16.png",
                                                             "digest-support-2026-11-16.png"]
        completed = [c for c in cx.slack.calls_to("files.completeUploadExternal")
                     if c.body.get("channel_id") == "C0SUPPORT"]
        assert len(completed) == 1
        assert completed[0].body.get("thread_ts") == next(
            m["ts"] for m in cx.posted("C0SUPPORT") if (m.get("metadata") or {}).get("event_payload", {}).get("key")
            == "slack:digest:support:2026-11-16")
        (uploaded,) = [f for f in cx.slack.files.values() if f["name"] == "digest-support-2026-11-16.png"]
        assert uploaded["content"][:8] == PNG_MAGIC and uploaded["channels"] == ["C0SUPPORT"]

        # Running again, later the same day, or after a "restart" (new engine objects): nothing more.
        await tick(cx, DIGEST_AT + timedelta(minutes=30))
        restarted = make_engine(db_url)
        try:
            assert run_due_jobs(restarted, load_workspace(), DIGEST_AT + timedelta(hours=2))["digest"] == 0
        finally:
            restarted.dispose()
        await cx.deliverer.drain()
        assert len(digest_posts(cx)) == 3
        with Session(engine) as s:
            assert sorted(c.key for c in s.exec(select(JobClaim)) if c.key.startswith("digest:")) == [
                "digest:billing:2026-11-16", "digest:delivery:2026-11-16", "digest:support:2026-11-16"]


async def test_a_missed_run_catches_up_later_that_week_but_never_twice(engine):
    async with CxHarness(engine) as cx:
        roster(engine, cx.ws)
        await tick(cx, datetime(2026, 11, 25, 14, tzinfo=UTC))  # the server was down on Monday
        assert len(digest_posts(cx)) == 3
        await tick(cx, datetime(2026, 11, 29, 20, tzinfo=UTC))
        await tick(cx, datetime(2026, 11, 30, 8, 59, tzinfo=UTC))  # before the next digest: nothing stale
        assert len(digest_posts(cx)) == 3
        await tick(cx, datetime(2026, 11, 30, 9, 0, tzinfo=UTC))  # the next week's
        keys = sorted(p["metadata"]["event_payload"]["key"] for p in digest_posts(cx))
        assert keys == sorted(f"slack:digest:{t}:{w}" for t in ("billing", "delivery", "support")
                              for w in ("2026-11-16", "2026-11-23"))


def test_a_stale_digest_is_not_posted(engine):
    ws = load_workspace()
    roster(engine, ws)
    assert digest_jobs.weekly_digests(engine, ws, DIGEST_AT + timedelta(days=6, minutes=1)) == 0
    with Session(engine) as s:
        assert not list(s.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("%digest%"))))


def test_two_replicas_at_once_queue_each_digest_once(engine, db_url):
    ws = load_workspace()
    seed(engine, ws)
    results: list[int] = []
    errors: list[BaseException] = []

    def replica() -> None:
        eng = make_engine(db_url)
        try:
            results.append(digest_jobs.weekly_digests(eng, ws, DIGEST_AT))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            eng.dispose()

    threads = [threading.Thread(target=replica) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and sum(results) == 3
    with Session(engine) as s:
        keys = [o.dedupe_key for o in s.exec(select(OutboxMessage)) if ":digest:" in o.dedupe_key]
    # one digest per team (its chart, if any, is a separate upload row in its thread), none twice
    assert len(keys) == len(set(keys))
    assert sorted(k for k in keys if ":image:" not in k) == [
        "slack:digest:billing:2026-11-16", "slack:digest:delivery:2026-11-16", "slack:digest:support:2026-11-16"]
    assert all(k.rsplit(":image:", 1)[0] in keys for k in keys if ":image:" in k)


def test_one_failing_team_never_stops_the_others(engine, monkeypatch):
    ws = load_workspace()
    roster(engine, ws)
    real = digest.compute_digest

    def flaky(bind, ws, team, *a, **k):  # type: ignore[no-untyped-def]
        if team == "billing":
            raise RuntimeError("boom")
        return real(bind, ws, team, *a, **k)

    monkeypatch.setattr(digest_jobs, "compute_digest", flaky)
    assert digest_jobs.weekly_digests(engine, ws, DIGEST_AT) == 2
    monkeypatch.setattr(digest_jobs, "compute_digest", real)
    # Billing was not claimed, so the next run posts it (and only it).
    assert digest_jobs.weekly_digests(engine, ws, DIGEST_AT + timedelta(minutes=5)) == 1


# --- /cx digest ------------------------------------------------------------------------------


async def test_preview_is_only_for_the_manager_and_agents_are_refused(engine):
    async with CxHarness(engine) as cx:
        seed(engine, cx.ws)
        cx.clock.now = datetime(2026, 11, 25, 10, tzinfo=UTC)  # Wednesday: the last full week is 16-22 Nov
        await cx.deliver()
        before = len(cx.slack.calls_to("chat.postMessage"))
        doc = (await cx.command("U0MANAGER", "digest preview")).json()
        assert doc["response_type"] == "ephemeral"
        shown = json.dumps(doc, ensure_ascii=False)
        assert "Customer Support: weekly digest" in shown and "Chart: posted with the real digest" in shown
        assert "NPS: — · 100.0 · — · — · — · — · 16.7 · 0.0" in shown
        assert "&lt;!channel&gt;" in shown and "<!channel>" not in shown
        await cx.deliver()
        assert len(cx.slack.calls_to("chat.postMessage")) == before and digest_posts(cx) == []

        refused = (await cx.command("U0ALICE", "digest preview")).json()
        assert refused["response_type"] == "ephemeral" and "needs the manager role" in refused["text"]
        other = (await cx.command("U0MANAGER", "digest preview billing")).json()
        assert "You don't manage the Billing team" in other["text"]
        unknown = (await cx.command("U0MANAGER", "digest suport")).json()
        assert "There is no team `suport`" in unknown["text"] and "support" in unknown["text"]


async def test_digest_now_posts_to_the_channel_without_using_up_the_schedule(engine):
    async with CxHarness(engine) as cx:
        seed(engine, cx.ws)
        cx.clock.now = datetime(2026, 11, 24, 10, tzinfo=UTC)
        doc = (await cx.command("U0MANAGER", "digest")).json()
        assert doc["response_type"] == "ephemeral"
        assert doc["text"] == "Posted the Customer Support digest to #C0SUPPORT."
        await cx.deliver()
        posts = digest_posts(cx)
        assert [p["channel"] for p in posts] == ["C0SUPPORT"] and "14 h 40 min" in text_of(posts[0])
        assert len(cx.slack.calls_to("files.completeUploadExternal")) == 1
        # On demand again: posted again.
        cx.clock.now += timedelta(minutes=1)
        await cx.command("U0MANAGER", "digest support")
        await cx.deliver()
        assert len(digest_posts(cx)) == 2
        # The scheduled digest still goes out (it catches up on Tuesday).
        await tick(cx, cx.clock.now)
        support = [p for p in digest_posts(cx) if p["channel"] == "C0SUPPORT"]
        assert len(support) == 3
        assert support[-1]["metadata"]["event_payload"]["key"] == "slack:digest:support:2026-11-16"


async def test_admin_posts_every_teams_digest(engine):
    async with CxHarness(engine) as cx:
        roster(engine, cx.ws)
        cx.clock.now = datetime(2026, 11, 24, 10, tzinfo=UTC)
        doc = (await cx.command("U0ADMIN", "digest")).json()
        assert doc["text"].startswith("Posted the Customer Support digest")
        assert "Billing digest to #C0BILLING" in json.dumps(doc)
        await cx.deliver()
        assert sorted(p["channel"] for p in digest_posts(cx)) == ["C0BILLING", "C0DELIVERY", "C0SUPPORT"]
        refused = (await cx.command("U0ADMIN", "digest preview")).json()
        assert "say which one" in refused["text"]
