"""Recognition: `/cx kudos`, customer praise that names someone (with and without approval), loops closed well."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.cases import service as cases
from bot.recognition import shoutouts as recognition
from bot.config import Workspace, load_workspace, parse_workspace
from bot.intake.store import record_response
from bot.cases.resolved import ResolvedStep
from bot.people.roster import actor_for, member_by_slack
from bot.intake.surveys import build_response
from handlers.jobs import run_due
from storage.db import session_scope
from storage.models import Member, Shoutout
from tests.harness import CxHarness, text_of

T = datetime(2026, 11, 20, 10, 15, tzinfo=timezone.utc)  # a Friday morning in London
HOSTILE = "<!channel> <!here> @everyone <@U0ADMIN|ada> <#C0BILLING|billing> <https://evil.example|click me> &"


def praise(ext: str, comment: str | None, *, survey: str = "nps", score: int = 10, touchpoint: str = "phone",
           at: datetime = T):
    return build_response({"source": "generic", "external_id": ext, "survey": survey, "score": score,
                           "comment": comment, "customer_name": "Dana Reyes", "customer_email": "dana@example.com",
                           "touchpoint": touchpoint, "responded_at": at.isoformat()})


def workspace_with(**people: dict[str, Any]) -> Workspace:
    """The sample workspace plus extra people (each added to a team's members)."""
    data = load_workspace().model_dump(mode="json")
    for uid, spec in people.items():
        spec = dict(spec)
        team = spec.pop("team")
        data["people"][uid] = spec
        next(t for t in data["teams"] if t["key"] == team)["members"].append(uid)
    return parse_workspace(data)


def shoutouts(engine) -> list[Shoutout]:
    with Session(engine) as s:
        return list(s.exec(select(Shoutout).order_by(Shoutout.id)))


def member_id(engine, slack_id: str) -> int:
    with Session(engine) as s:
        return s.exec(select(Member.id).where(Member.slack_user_id == slack_id)).one()


def channel_text(cx: CxHarness, channel: str) -> list[str]:
    return [text_of(m) for m in cx.posted(channel)]


def dm_channel(cx: CxHarness, user: str) -> str | None:
    return cx.slack._conversations.get(user)


def dms(cx: CxHarness, user: str) -> list[dict[str, Any]]:
    channel = dm_channel(cx, user)
    return cx.posted(channel) if channel else []


# --- /cx kudos ---------------------------------------------------------------------------------


async def test_kudos_is_posted_in_the_recipients_team_channel(engine):
    async with CxHarness(engine) as cx:
        reply = (await cx.command("U0ALICE", "kudos <@U0BOB|bob> for covering my Tuesday calls")).json()
        assert reply["response_type"] == "ephemeral"
        assert "Shout-out posted to the Customer Support channel" in reply["text"]
        await cx.deliver()
        (post,) = cx.posted("C0SUPPORT")
        section = post["blocks"][0]["text"]["text"]
        assert section == "🎉 <@U0ALICE> → <@U0BOB>: for covering my Tuesday calls"
        # across teams: it goes where the recipient works
        reply = (await cx.command("U0PRIYA", "kudos <@U0CARLOS|carlos>: thanks for the handover notes!")).json()
        assert "Customer Support channel" in reply["text"]
        # someone in no team (the admin): the giver's team channel
        reply = (await cx.command("U0TOM", "kudos <@U0ADMIN|ada> for sorting our access")).json()
        assert "Billing channel" in reply["text"]
        await cx.deliver()
        assert "<@U0PRIYA> → <@U0CARLOS>: thanks for the handover notes!" in channel_text(cx, "C0SUPPORT")[1]
        assert "<@U0TOM> → <@U0ADMIN>" in channel_text(cx, "C0BILLING")[0]
        rows = shoutouts(engine)
        assert [(r.source, r.team, r.status) for r in rows] == [("peer", "support", "posted"),
                                                                  ("peer", "support", "posted"),
                                                                  ("peer", "billing", "posted")]
        assert rows[0].from_member_id == member_id(engine, "U0ALICE")
        assert rows[0].to_member_id == member_id(engine, "U0BOB")
        assert rows[0].text == "for covering my Tuesday calls"


async def test_kudos_in_teams_name_people_by_their_mentions(engine):
    from tests.teams_harness import ALICE, BOB, SUPPORT, TeamsHarness

    async with TeamsHarness(engine) as cx:
        await cx.install()
        status, _ = await cx.teams.message(cx.bot_url, ALICE, "cx kudos @Bob Okafor for the @Bob Okafor handover",
                                           conversation=SUPPORT, mentions=[BOB])
        assert status < 300
        assert shoutouts(engine)[0].text == "for the @Bob Okafor handover"


@pytest.mark.parametrize("text, expected", [
    ("kudos", "Say who you're thanking, then what for"),
    ("kudos thanks Bob for the cover", "Say who you're thanking, then what for"),
    ("kudos <@U0BOB|bob>", "Say what you're thanking Bob Okafor for"),
    ("kudos <@U0BOB|bob>   ", "Say what you're thanking Bob Okafor for"),
    ("kudos @nobody thanks", "I couldn't find @nobody in the chat"),
    ("kudos <@U0STRANGER|stranger> thanks", "@stranger isn't in any cxloop team yet"),
    ("kudos <@U0ALICE|alice> for being me", "Kudos are for thanking someone else"),
    ("kudos <@U0BOB|bob> " + "x" * 1001, "Your kudos is 1,001 characters; the most is 1,000"),
])
async def test_kudos_errors_say_what_is_wrong(engine, text, expected):
    async with CxHarness(engine) as cx:
        reply = (await cx.command("U0ALICE", text)).json()
        assert reply["response_type"] == "ephemeral"
        assert expected in reply["text"]
        await cx.deliver()
        assert not cx.posted("C0SUPPORT") and not shoutouts(engine)


async def test_kudos_of_exactly_the_limit_is_accepted(engine):
    async with CxHarness(engine) as cx:
        reply = (await cx.command("U0ALICE", "kudos <@U0BOB|bob> " + "y" * 1000)).json()
        assert "Shout-out posted" in reply["text"]
        assert len(shoutouts(engine)[0].text) == 1000


async def test_kudos_text_is_inert(engine):
    async with CxHarness(engine) as cx:
        await cx.command("U0ALICE", f"kudos <@U0BOB|bob> {HOSTILE} www.evil.example")
        await cx.deliver()
        (post,) = cx.slack.calls_to("chat.postMessage")
        shown = text_of(post.body)
        for bad in ("<!channel>", "<!here>", "@channel", "@here", "@everyone", "<@U0ADMIN", "<#C0BILLING",
                    "<https://", "https://evil", "www.evil"):
            assert bad not in shown, bad
        # the only real mentions are the giver and the receiver; typed ones stay as words
        assert shown.count("<@") == 2
        assert "@Ada Admin" in shown and "#billing" in shown and "click me" in shown and "&amp;" in shown
        assert all(b["text"].get("verbatim") for b in post.body["blocks"] if "text" in b)
        assert post.body["unfurl_links"] is False
        # stored as the words people saw, not as Slack markup
        assert shoutouts(engine)[0].text.startswith("@channel @here @everyone @Ada Admin #billing click me (https://evil")


@pytest.mark.parametrize("words", ["you're a star", "you're a star, Bob's the best", 'the "quiet" hero'])
async def test_kudos_keep_the_words_as_typed(engine, words):
    async with CxHarness(engine) as cx:
        reply = (await cx.command("U0ALICE", f"kudos <@U0BOB|bob> {words}")).json()
        assert "Shout-out posted" in reply["text"]
        assert shoutouts(engine)[0].text == words


# --- customer praise that names someone -------------------------------------------------------


async def test_praise_naming_a_member_is_posted_in_their_team_channel_once(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, praise("r-1", "Samira Haddad rebooked my delivery for a Saturday.",
                                              touchpoint="delivery"), now=T)
        # a retried webhook: no second shout-out
        record_response(engine, cx.ws, praise("r-1", "Samira Haddad rebooked my delivery for a Saturday.",
                                              touchpoint="delivery"), now=T)
        # named on another team's touchpoint: posted where Tom works
        record_response(engine, cx.ws, praise("r-2", "Tom was great, explained the bill.", survey="csat", score=5),
                        now=T)
        await cx.deliver()
        (post,) = cx.posted("C0DELIVERY")
        shown = text_of(post)
        assert "A customer praised <@U0SAMIRA>" in shown
        assert "> Samira Haddad rebooked my delivery for a Saturday." in shown
        assert "NPS 10 (0–10) · delivery" in shown
        assert "A customer praised <@U0TOM>" in text_of(cx.posted("C0BILLING")[0])
        assert not cx.posted("C0SUPPORT")
        rows = shoutouts(engine)
        assert [(r.source, r.team, r.status, r.response_id) for r in rows] == [
            ("customer", "delivery", "posted", 1), ("customer", "billing", "posted", 2)]
        assert rows[0].to_member_id == member_id(engine, "U0SAMIRA") and rows[0].from_member_id is None


@pytest.mark.parametrize("survey, score, credited", [
    ("nps", 10, True), ("nps", 9, True), ("nps", 8, False), ("nps", 2, False),
    ("csat", 5, True), ("csat", 4, False), ("ces", 5, True), ("ces", 4, True), ("ces", 3, False),
])
async def test_only_praise_earns_a_shout_out(engine, survey, score, credited):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, praise("r-1", "Alice on the phone", survey=survey, score=score), now=T)
        assert bool(shoutouts(engine)) is credited


async def test_history_from_an_import_is_not_news(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, praise("r-old", "Alice was great", at=T - timedelta(days=30)), now=T)
        assert not shoutouts(engine)


async def test_ambiguous_first_names_match_no_one(engine):
    ws = workspace_with(U0SAMB={"name": "Sam Brooks", "team": "support"})
    async with CxHarness(engine, workspace=ws) as cx:
        record_response(engine, cx.ws, praise("r-1", "Sam was really kind to my dad."), now=T)
        record_response(engine, cx.ws, praise("r-2", "sam sorted it", score=9), now=T)
        assert not shoutouts(engine)
        record_response(engine, cx.ws, praise("r-3", "Sam Taylor tracked my parcel down.", touchpoint="delivery"), now=T)
        record_response(engine, cx.ws, praise("r-4", "Thanks to sam brooks!"), now=T)
        rows = shoutouts(engine)
        assert [r.to_member_id for r in rows] == [member_id(engine, "U0SAM"), member_id(engine, "U0SAMB")]


async def test_or_between_two_names_credits_neither_and_and_credits_both(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, praise("r-1", "Sam or Samira, not sure which one it was, but someone sorted "
                                                      "my exchange. Thank them both!", touchpoint="returns"), now=T)
        assert not shoutouts(engine)
        record_response(engine, cx.ws, praise("r-2", "Jonas and Samira were both great on the phone.",
                                              touchpoint="delivery"), now=T)
        await cx.deliver()
        assert [r.to_member_id for r in shoutouts(engine)] == [member_id(engine, "U0JONAS"),
                                                               member_id(engine, "U0SAMIRA")]
        posts = channel_text(cx, "C0DELIVERY")
        assert len(posts) == 2 and "<@U0JONAS>" in posts[0] and "<@U0SAMIRA>" in posts[1]


async def test_accents_and_aliases_are_matched(engine):
    ws = workspace_with(U0ZOE={"name": "Zoë Müller", "team": "support"},
                        U0JOSE={"name": "Jose Alvarez", "aliases": ["Pepe"], "team": "billing"})
    async with CxHarness(engine, workspace=ws) as cx:
        record_response(engine, cx.ws, praise("r-1", "zoe muller is a star"), now=T)
        record_response(engine, cx.ws, praise("r-2", "Thank you, José!", touchpoint="billing"), now=T)
        record_response(engine, cx.ws, praise("r-3", "PEPE sorted my refund", touchpoint="refund"), now=T)
        record_response(engine, cx.ws, praise("r-4", "ZOË was great"), now=T)
        await cx.deliver()
        zoe, jose = member_id(engine, "U0ZOE"), member_id(engine, "U0JOSE")
        assert [r.to_member_id for r in shoutouts(engine)] == [zoe, jose, jose, zoe]
        assert "> zoe muller is a star" in channel_text(cx, "C0SUPPORT")[0]
        assert "> Thank you, José!" in channel_text(cx, "C0BILLING")[0]


async def test_a_lower_case_name_in_a_capitalised_comment_is_an_ordinary_word(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, praise("r-1", "Handled with grace and patience.", touchpoint="delivery"), now=T)
        assert not shoutouts(engine)
        record_response(engine, cx.ws, praise("r-2", "grace was lovely", touchpoint="delivery"), now=T)
        record_response(engine, cx.ws, praise("r-3", "bob in chat = legend", touchpoint="chat"), now=T)
        assert [r.to_member_id for r in shoutouts(engine)] == [member_id(engine, "U0GRACE"),
                                                               member_id(engine, "U0BOB")]


async def test_hostile_praise_is_quoted_inert(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, praise("r-1", f"Alice was great {HOSTILE}"), now=T)
        await cx.deliver()
        (post,) = cx.slack.calls_to("chat.postMessage")
        shown = text_of(post.body)
        for bad in ("<!channel>", "<!here>", "@everyone", "<@U0ADMIN", "<#C0BILLING", "<https://"):
            assert bad not in shown, bad
        assert shown.count("<@") == 1 and "<@U0ALICE>" in shown


async def test_a_comment_added_later_can_still_earn_a_shout_out(engine):
    from bot.intake.store import record_comment_update

    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, praise("r-1", None), now=T)  # Delighted: the score first
        record_comment_update(engine, cx.ws, praise("r-1", "Alice called me back within the hour."),
                              now=T + timedelta(minutes=3))
        record_comment_update(engine, cx.ws, praise("r-1", "Alice called me back within the hour!"),
                              now=T + timedelta(minutes=4))
        assert [r.to_member_id for r in shoutouts(engine)] == [member_id(engine, "U0ALICE")]


def test_name_matching_rules():
    index = recognition.name_index(load_workspace())
    named = lambda text: recognition.people_named(text, index)  # noqa: E731
    assert named("Thanks Sam!") == ["U0SAM"]
    assert named("Samira was fantastic.") == ["U0SAMIRA"]  # "Sam" is not inside "Samira"
    assert named("Sam's advice was spot on") == ["U0SAM"]
    assert named("Sam, or was it Samira?") == []
    assert named("Sam/Samira on the desk") == []
    assert named("Alice, Alice and Alice again") == ["U0ALICE"]
    assert named("Priya   Nair\nwas brilliant") == ["U0PRIYA"]
    assert named("Malice aforethought; bobsleigh; Tomorrow") == []
    assert named("") == []


# --- approval ---------------------------------------------------------------------------------


def approval_on(monkeypatch) -> Workspace:
    """A workspace whose customer shout-outs wait for approval (the YAML key once bot/config.py has it)."""
    if "recognition" in Workspace.model_fields:
        data = load_workspace().model_dump(mode="json")
        data["recognition"] = {"approval": True}
        return parse_workspace(data)
    monkeypatch.setattr(recognition, "APPROVAL_REQUIRED", True)
    return load_workspace()


async def test_with_approval_managers_approve_or_skip(engine, monkeypatch):
    async with CxHarness(engine, workspace=approval_on(monkeypatch)) as cx:
        record_response(engine, cx.ws, praise("r-1", "Alice sorted it in five minutes."), now=T)
        record_response(engine, cx.ws, praise("r-2", "Carlos explained everything.", survey="ces", score=5), now=T)
        assert [r.status for r in shoutouts(engine)] == ["pending", "pending"]
        await cx.deliver()
        assert not cx.posted("C0SUPPORT")
        first, second = dms(cx, "U0MANAGER")
        assert "Customer praise to approve" in text_of(first) and "> Alice sorted it in five minutes." in text_of(first)
        assert not dms(cx, "U0ALICE")
        channel = dm_channel(cx, "U0MANAGER")

        # an agent can't approve
        await cx.click("U0ALICE", first, "cx_shoutout_approve", channel="C0SUPPORT")
        assert "Only a manager of the Customer Support team" in cx.ephemerals_for("U0ALICE")[-1]
        assert shoutouts(engine)[0].status == "pending"

        await cx.click("U0MANAGER", first, "cx_shoutout_approve", channel=channel)
        await cx.deliver()
        assert "Posted in the Customer Support channel" in cx.ephemerals_for("U0MANAGER")[-1]
        (post,) = cx.posted("C0SUPPORT")
        assert "A customer praised <@U0ALICE>" in text_of(post)
        edited = dms(cx, "U0MANAGER")[0]
        assert "approved by <@U0MANAGER>" in text_of(edited) and "cx_shoutout_approve" not in text_of(edited)

        # a second click (say, an old copy of the DM) changes nothing
        await cx.click("U0MANAGER", first, "cx_shoutout_skip", channel=channel)
        assert "already posted" in cx.ephemerals_for("U0MANAGER")[-1]

        await cx.click("U0MANAGER", second, "cx_shoutout_skip", channel=channel)
        await cx.deliver()
        assert [r.status for r in shoutouts(engine)] == ["posted", "skipped"]
        assert len(cx.posted("C0SUPPORT")) == 1
        assert "Skipped by <@U0MANAGER>" in text_of(dms(cx, "U0MANAGER")[1])


# --- loops closed within SLA ------------------------------------------------------------------


def work_case(engine, ws, ext: str, *, owner: str, opened: datetime, closed: datetime, touchpoint: str = "phone") -> int:
    r = build_response({"source": "generic", "external_id": ext, "survey": "nps", "score": 2, "comment": "late",
                        "touchpoint": touchpoint, "responded_at": opened.isoformat()})
    cid = record_response(engine, ws, r, now=opened).case_id
    with session_scope(engine) as s:
        actor = actor_for(s, member_by_slack(s, owner))
        cases.take(s, actor, cid, now=opened)
        for step in ResolvedStep:
            cases.tick_step(s, actor, cid, step, now=opened + timedelta(hours=1), note="done",
                            customer_agreed=True if step is ResolvedStep.VERIFY else None,
                            root_cause="processes" if step is ResolvedStep.DOCUMENT else None)
        cases.close_loop(s, actor, cid, how="phone", when=closed, now=closed)
    return cid


async def test_loops_closed_within_sla_are_recorded_once_and_not_posted(engine):
    async with CxHarness(engine) as cx:
        well = work_case(engine, cx.ws, "r-1", owner="U0ALICE", opened=T, closed=T + timedelta(days=2))
        late = work_case(engine, cx.ws, "r-2", owner="U0BOB", opened=T, closed=T + timedelta(days=6))
        tight = work_case(engine, cx.ws, "r-3", owner="U0SAM", opened=T, touchpoint="delivery",
                          closed=T + timedelta(days=3))  # delivery resolves within 3d: exactly on time
        at = T + timedelta(days=6, minutes=1)
        for _ in range(2):
            summary = await run_due(engine, cx.ws, cx.settings, at=at, deliverer=cx.deliverer)
        assert summary["queued"]["recognition"] == 0  # the second run found nothing new
        rows = shoutouts(engine)
        assert [(r.case_id, r.source, r.status, r.team) for r in rows] == [
            (well, "loop", "recorded", "support"), (tight, "loop", "recorded", "delivery")]
        assert rows[0].to_member_id == member_id(engine, "U0ALICE")
        assert late not in [r.case_id for r in rows]
        await cx.deliver()
        assert not any("within its SLA" in t for c in ("C0SUPPORT", "C0DELIVERY") for t in channel_text(cx, c))
        with Session(engine) as s:
            assert [r.case_id for r in recognition.recognition_between(
                s, since=T, until=T + timedelta(days=7), sources=("loop",))] == [well, tight]


async def test_record_loop_closed_well_can_be_called_directly_and_is_idempotent(engine):
    async with CxHarness(engine) as cx:
        cid = work_case(engine, cx.ws, "r-1", owner="U0ALICE", opened=T, closed=T + timedelta(hours=5))
        with session_scope(engine) as s:
            case = cases.get_case(s, cid)
            assert recognition.record_loop_closed_well(s, case) is not None
            assert recognition.record_loop_closed_well(s, case) is None
        await run_due(engine, cx.ws, cx.settings, at=T + timedelta(hours=6), deliverer=cx.deliverer)
        assert len(shoutouts(engine)) == 1
