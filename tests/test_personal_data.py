"""Personal data stays with the right people: App Home, `/cx scores`, `/cx team audit` and Customer Service
Week's buttons are scoped to the viewer's teams (admins see all), on Slack and Teams."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, func, select

from bot.intake.store import record_response
from bot.intake.surveys import build_response
from bot.people.roster import member_by_slack
from handlers.jobs import run_due
from standins.teams_cards import text_of as teams_text
from storage.db import session_scope
from storage.models import AuditEntry, OutboxMessage, Pledge, Shoutout, Story
from tests.harness import CxHarness
from tests.teams_harness import ALICE, PRIYA, SUPPORT, TeamsHarness, dialog_message
from tests.test_console import said
from tests.test_csweek import london, posts, tick

ADMIN, MANAGER, AGENT, BILLING_MANAGER, BILLING_AGENT, NOBODY = (
    "U0ADMIN", "U0MANAGER", "U0ALICE", "U0MEERA", "U0PRIYA", "U0NOBODY")
PHONE = "+44 7700 900123"


def answered(engine, ws, ext: str, score: int, touchpoint: str, at: datetime) -> None:
    record_response(engine, ws, build_response({
        "source": "generic", "external_id": ext, "survey": "nps", "score": score, "touchpoint": touchpoint,
        "responded_at": at.isoformat()}), now=at)


def praised(engine, team: str, to: str, text: str, at: datetime, source: str = "customer") -> None:
    with session_scope(engine) as s:
        s.add(Shoutout(team=team, to_member_id=member_by_slack(s, to).id, source=source, text=text, status="posted",
                       created_at=at))


def seed_two_teams(cx: CxHarness) -> None:
    """This week: a promoter for support (phone) and a detractor for billing (invoice), and a shout-out each."""
    now = cx.clock.now
    answered(cx.engine, cx.ws, "s-1", 10, "phone", now - timedelta(days=1))
    answered(cx.engine, cx.ws, "b-1", 2, "invoice", now - timedelta(days=2))
    praised(cx.engine, "support", AGENT, f"Alice sorted it, call me on {PHONE} any time", now - timedelta(hours=3))
    praised(cx.engine, "billing", BILLING_AGENT, "Priya refunded me the same day", now - timedelta(hours=2))


async def home(cx: CxHarness, user: str) -> str:
    await cx.sender.home_opened(user)
    await cx.deliver()
    return str(cx.slack.home_views[user]["blocks"])


async def test_app_home_for_someone_in_no_team_shows_no_team_scores_and_no_shoutouts(engine):
    async with CxHarness(engine) as cx:
        seed_two_teams(cx)
        nobody = await home(cx, NOBODY)
        assert "You're not in a team yet" in nobody
        for secret in ("support · NPS", "billing · NPS", PHONE, "Priya refunded"):
            assert secret not in nobody
        alice = await home(cx, AGENT)
        assert "support · NPS (1)" in alice and PHONE in alice
        assert "billing · NPS" not in alice and "Priya refunded" not in alice
        meera = await home(cx, BILLING_MANAGER)
        assert "billing · NPS (1)" in meera and "Priya refunded" in meera
        assert "support · NPS" not in meera and PHONE not in meera and "Customer Support: unclaimed" not in meera
        admin = await home(cx, ADMIN)
        assert "support · NPS (1)" in admin and "billing · NPS (1)" in admin
        assert PHONE in admin and "Priya refunded" in admin


async def test_scores_show_a_manager_only_the_teams_they_manage(engine):
    async with CxHarness(engine) as cx:
        seed_two_teams(cx)
        by_team = said(await cx.command(MANAGER, "scores 7d by team"))
        assert "support · NPS (1)" in by_team and "billing" not in by_team
        # the other groupings count only the manager's teams' answers too
        overall = said(await cx.command(MANAGER, "scores 7d"))
        assert "All answers · NPS (1)" in overall and "+100.0" in overall
        by_touchpoint = said(await cx.command(MANAGER, "scores 7d by touchpoint"))
        assert "phone · NPS (1)" in by_touchpoint and "invoice" not in by_touchpoint
        admin = said(await cx.command(ADMIN, "scores 7d by team"))
        assert "support · NPS (1)" in admin and "billing · NPS (1)" in admin
        assert "All answers · NPS (2)" in said(await cx.command(ADMIN, "scores 7d"))
        # a manager of a team with no answers sees that team, and nobody else's
        delivery = said(await cx.command("U0GRACE", "scores 7d by team"))
        assert "delivery · NPS (0)" in delivery and "support" not in delivery and "billing" not in delivery


async def test_team_audit_lists_only_the_viewers_teams_changes_and_admins_see_all(engine):
    async with CxHarness(engine) as cx:
        assert "is now manager" in said(await cx.command(ADMIN, "role <@U0TOM|tom> manager"))
        assert "SLA is now" in said(await cx.command(BILLING_MANAGER, "team sla respond 8h resolve 3d"))
        assert "now go to #C0NEW" in said(await cx.command(MANAGER, "team channel <#C0NEW|new>"))
        with Session(engine) as s:
            assert sorted(a.action for a in s.exec(select(AuditEntry))) == ["role", "team.sla", "team.slack_channel"]
        mine = said(await cx.command(MANAGER, "team audit"))
        assert "team.slack_channel support" in mine
        assert "team.sla billing" not in mine and "role member:" not in mine
        assert "You don't manage the billing team" in said(await cx.command(MANAGER, "team audit billing"))
        everything = said(await cx.command(ADMIN, "team audit"))
        assert "Changes to every team (3)" in everything
        assert "team.slack_channel support" in everything and "team.sla billing" in everything
        assert "role member:" in everything
        billing = said(await cx.command(ADMIN, "team audit billing"))
        assert "team.sla billing" in billing and "role member:" in billing and "team.slack_channel" not in billing


def week_state(engine) -> tuple[int, int, int]:
    with Session(engine) as s:
        return (s.exec(select(func.count(Pledge.id))).one(), s.exec(select(func.count(Story.id))).one(),
                s.exec(select(func.count(OutboxMessage.id))).one())


async def test_pledge_and_story_buttons_refuse_people_outside_the_team_in_slack(engine):
    async with CxHarness(engine) as cx:
        await tick(cx, london(2026, 10, 5, 9, 30))
        kickoff = posts(cx, "C0SUPPORT")[0]
        cx.clock.now = london(2026, 10, 5, 10, 0)
        before, updates = week_state(engine), len(cx.slack.calls_to("chat.update"))
        for outsider in (BILLING_AGENT, NOBODY, ADMIN):  # another team's agent, no team, an admin in no team
            await cx.click(outsider, kickoff, "cx_csweek_pledge")
            assert "This pledge is for members of the Customer Support team, and you're not in it" in (
                cx.ephemerals_for(outsider)[-1])
        await cx.deliver()
        assert week_state(engine) == before and len(cx.slack.calls_to("chat.update")) == updates
        assert "be the first" in str(posts(cx, "C0SUPPORT")[0]["blocks"])

        await tick(cx, london(2026, 10, 8, 9, 30))
        thursday = posts(cx, "C0SUPPORT")[-1]
        cx.clock.now = london(2026, 10, 8, 11)
        before, opened = week_state(engine), len(cx.slack.calls_to("views.open"))
        await cx.click(BILLING_AGENT, thursday, "cx_csweek_story")
        assert "Sharing a story here is for members of the Customer Support team" in (
            cx.ephemerals_for(BILLING_AGENT)[-1])
        assert len(cx.slack.calls_to("views.open")) == opened
        # the form itself, opened by Alice and submitted as Priya, is refused too
        await cx.click(AGENT, thursday, "cx_csweek_story")
        reply = await cx.submit(BILLING_AGENT, cx.last_modal(), {"story": "Not my team's story."})
        assert "members of the Customer Support team" in reply.json()["errors"]["story"]
        await cx.deliver()
        assert week_state(engine) == before


async def test_pledge_and_story_buttons_refuse_people_outside_the_team_in_teams(engine):
    async with TeamsHarness(engine) as cx:
        await cx.install()
        at = london(2026, 10, 5, 9, 30)
        cx.clock.now = at
        await run_due(cx.engine, cx.ws, cx.settings, at=at, deliverer=cx.deliverer)
        kickoff = next(p for p in cx.teams.posts(SUPPORT) if "pledge" in teams_text(p))
        cx.clock.now = london(2026, 10, 5, 10, 0)
        before = week_state(engine)
        refused = dialog_message(await cx.click(PRIYA, kickoff, "✋ Take the pledge"))
        assert "This pledge is for members of the Customer Support team, and you're not in it" in refused
        await cx.deliver()
        assert week_state(engine) == before
        taken = dialog_message(await cx.click(ALICE, kickoff, "✋ Take the pledge"))
        assert "pledge is recorded" in taken

        at = london(2026, 10, 8, 9, 30)
        cx.clock.now = at
        await run_due(cx.engine, cx.ws, cx.settings, at=at, deliverer=cx.deliverer)
        thursday = next(p for p in cx.teams.posts(SUPPORT) if "Share a customer story" in str(p))
        cx.clock.now = london(2026, 10, 8, 11)
        before = week_state(engine)
        refused = dialog_message(await cx.click(PRIYA, thursday, "📖 Share a customer story"))
        assert "Sharing a story here is for members of the Customer Support team" in refused
        form = await cx.click(ALICE, thursday, "📖 Share a customer story")
        answer = await cx.submit(PRIYA, form, {"story": "Not my team's story."}, thursday)
        assert "members of the Customer Support team" in str(answer)
        await cx.deliver()
        assert week_state(engine) == before
