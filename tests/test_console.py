"""The managers' console through signed `/cx` requests: every subcommand, every role, mistakes, paging, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from bot.intake.store import record_response
from bot.intake.surveys import build_response
from storage.models import AuditEntry, Member, TeamMembership
from tests.harness import CxHarness

AGENT, MANAGER, ADMIN, OTHER_MANAGER = "U0ALICE", "U0MANAGER", "U0ADMIN", "U0MEERA"


def detractor(n: int, touchpoint: str = "phone"):
    return build_response({"source": "generic", "external_id": f"r-{n}", "survey": "nps", "score": 2,
                           "comment": f"complaint {n}", "touchpoint": touchpoint, "responded_at": "2026-11-20T10:15:00Z"})


def said(reply) -> str:
    doc = reply.json()
    return (doc.get("text") or "") + str(doc.get("blocks") or "")


MANAGER_COMMANDS = ["open", "overdue", "assign 1 <@U0BOB|bob>", "scores", "team", "team add <@U0TOM|tom>",
                    "team channel <#C0NEW|new>", "team sla respond 8h resolve 3d", "team touchpoints phone,chat"]


@pytest.mark.parametrize("line", MANAGER_COMMANDS)
async def test_agents_are_refused_manager_commands_naming_the_role(engine, line):
    async with CxHarness(engine) as cx:
        reply = await cx.command(AGENT, line)
        assert reply.json()["response_type"] == "ephemeral"
        assert "needs the manager role; you are an agent" in said(reply)


@pytest.mark.parametrize("line", ["role <@U0BOB|bob> manager", "team create returns Returns desk"])
async def test_managers_are_refused_admin_commands(engine, line):
    async with CxHarness(engine) as cx:
        text = said(await cx.command(MANAGER, line))
        assert "admin role" in text


async def test_help_differs_by_role(engine):
    async with CxHarness(engine) as cx:
        agent = said(await cx.command(AGENT, "help"))
        manager = said(await cx.command(MANAGER, "help"))
        admin = said(await cx.command(ADMIN, "help"))
        assert "/cx open" not in agent and "/cx open" in manager and "/cx role" not in manager and "/cx role" in admin


@pytest.mark.parametrize("line,expect", [
    ("opne", "Did you mean `/cx open [TEAM]`"),
    ("overdeu", "Did you mean `/cx overdue`"),
    ("team ad <@U0TOM|tom>", "Did you mean `/cx team add`"),
    ("assign", "Usage: `/cx assign ID @user"),
    ("assign 1 bob", "is not a mention"),
    ("scores 12d", "`12d` is not a period"),
    ("scores 7d by colour", "Group with `by team` or `by touchpoint`"),
    ("team sla respond soon", "is not a duration"),
    ("team sla respond 5d resolve 1d", "can't take longer than resolving"),
    ("team touchpoints Phone!,chat", "comma-separated words"),
    ("team channel general", "is not a Slack channel"),
    ("open nosuchteam", "There is no team 'nosuchteam'"),
    ("open billing", "You don't manage the billing team"),
    ("case 1 2", "Give the case number"),
    ('assign "unclosed', "unmatched quote"),
])
async def test_mistakes_get_a_specific_answer(engine, line, expect):
    async with CxHarness(engine) as cx:
        assert expect in said(await cx.command(MANAGER, line))


async def test_open_and_overdue_page_long_lists(engine):
    async with CxHarness(engine) as cx:
        for n in range(35):
            record_response(engine, cx.ws, detractor(n), now=cx.clock.now)
        first = await cx.command(MANAGER, "open")
        text = said(first)
        assert "Open cases — support (35)" in text and "Page 1 of 3" in text and "/cx open page 2" in text
        assert "*#1*" in text and "*#16*" not in text
        third = said(await cx.command(MANAGER, "open page 3"))
        assert "Page 3 of 3" in third and "*#35*" in third and "Next:" not in third
        assert "only 3 pages" in said(await cx.command(MANAGER, "open page 4"))
        # the Next page button answers with the next page, ephemerally
        blocks = first.json()["blocks"]
        await cx.click(MANAGER, {"blocks": blocks, "ts": "1.1"}, "cx_page")
        cx.ephemerals_for(MANAGER)
        eph = [c.body for c in cx.slack.calls_to("chat.postEphemeral") if c.body["user"] == MANAGER]
        assert eph and "Page 2 of 3" in str(eph[-1]["blocks"])
        cx.clock.now = cx.clock.now.replace(year=cx.clock.now.year + 1)
        overdue = said(await cx.command(MANAGER, "overdue"))
        assert "Overdue cases (35)" in overdue and "first response overdue by" in overdue


async def test_assign_through_the_console(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, detractor(1))
        await cx.deliver()
        assert "is now with" in said(await cx.command(MANAGER, "assign 1 <@U0BOB|bob>"))
        assert "reason is required" in said(await cx.command(MANAGER, "assign 1 <@U0CARLOS|carlos>"))
        assert "is now with" in said(await cx.command(MANAGER, "assign 1 <@U0CARLOS|carlos> Bob is off sick"))
        assert "support team" in said(await cx.command(OTHER_MANAGER, "assign 1 <@U0BOB|bob> please"))


async def test_scores_with_change_against_the_previous_period(engine):
    from datetime import timedelta

    async with CxHarness(engine) as cx:
        now = cx.clock.now
        for n, (score, days) in enumerate([(10, 1), (10, 2), (0, 3), (0, 9), (0, 10)]):
            record_response(engine, cx.ws, build_response({
                "source": "t", "external_id": f"s{n}", "survey": "nps", "score": score, "touchpoint": "phone",
                "responded_at": (now - timedelta(days=days)).isoformat()}))
        text = said(await cx.command(MANAGER, "scores 7d by team"))
        # this week: 2 promoters, 1 detractor of 3 = +33.3; the week before: 2 detractors = -100
        assert "+33.3 (+133.3 vs previous)" in text and "support" in text
        assert "No survey answers" in said(await cx.command(MANAGER, "scores 7d by touchpoint")) or "phone" in said(
            await cx.command(MANAGER, "scores 7d by touchpoint"))


async def test_team_setup_in_chat_overrides_the_yaml_and_is_audited(engine):
    async with CxHarness(engine) as cx:
        shown = said(await cx.command(MANAGER, "team"))
        assert "Team Customer Support (support)" in shown and "respond within 1d" in shown
        assert "now go to #C0NEW" in said(await cx.command(MANAGER, "team channel <#C0NEW|new>"))
        assert "respond within 8h, resolve within 3d" in said(await cx.command(MANAGER, "team sla respond 8h resolve 3d"))
        assert "now owns phone, chat, email" in said(await cx.command(MANAGER, "team touchpoints phone,chat,email"))
        clash = said(await cx.command(MANAGER, "team touchpoints phone,refund"))
        assert "'refund' is routed to both" in clash
        assert "Added" in said(await cx.command(MANAGER, "team add <@U0TOM|tom>"))
        assert "Removed" in said(await cx.command(MANAGER, "team remove <@U0BOB|bob>"))
        shown = said(await cx.command(MANAGER, "team"))
        assert "set in chat" in shown and "<@U0TOM>" in shown and "<@U0BOB>" not in shown
        # the new set-up is live: a phone detractor now alerts in the new channel, due in 8 hours
        record_response(engine, cx.rt.workspace, detractor(1))
        await cx.deliver()
        assert [c.body["channel"] for c in cx.slack.calls_to("chat.postMessage")] == ["C0NEW"]
        with Session(engine) as s:
            actions = [(a.action, a.target, a.old, a.new) for a in s.exec(select(AuditEntry).order_by(AuditEntry.id))]
            assert actions[0] == ("team.slack_channel", "support", "C0SUPPORT", "C0NEW")
            assert [a[0] for a in actions] == ["team.slack_channel", "team.sla", "team.touchpoints", "team.add",
                                               "team.remove"]
            bob = s.exec(select(Member).where(Member.slack_user_id == "U0BOB")).one()
            assert s.exec(select(TeamMembership).where(TeamMembership.member_id == bob.id)).one().removed
        # a restart re-reads the YAML; Bob stays removed and the overrides stay
        from bot.people.roster import sync_workspace
        from storage.db import session_scope

        with session_scope(engine) as s:
            sync_workspace(s, cx.ws)
        assert "<@U0BOB>" not in said(await cx.command(MANAGER, "team"))
        audit = said(await cx.command(MANAGER, "team audit"))
        assert "team.slack_channel support: C0SUPPORT → C0NEW" in audit


async def test_admin_creates_teams_and_sets_roles(engine):
    async with CxHarness(engine) as cx:
        assert "Created the returns team" in said(await cx.command(ADMIN, "team create returns Returns desk"))
        assert "already a team" in said(await cx.command(ADMIN, "team create returns"))
        assert "can't be a team key" in said(await cx.command(ADMIN, "team create Bad_Key!"))
        assert "is now manager (was agent)" in said(await cx.command(ADMIN, "role <@U0BOB|bob> manager"))
        assert "not a role" in said(await cx.command(ADMIN, "role <@U0BOB|bob> boss"))
        assert "last admin" in said(await cx.command(ADMIN, "role <@U0ADMIN|ada> agent"))
        assert "Added" in said(await cx.command(ADMIN, "team add <@U0BOB|bob> returns"))
        with Session(engine) as s:
            assert s.exec(select(AuditEntry).where(AuditEntry.action == "role")).one().new == "manager"
        # Bob's new role survives a restart that re-reads the YAML
        from bot.people.roster import sync_workspace
        from storage.db import session_scope

        with session_scope(engine) as s:
            sync_workspace(s, cx.ws)
        assert "/cx open" in said(await cx.command("U0BOB", "help"))


async def test_commands_are_acknowledged_at_once_and_answered_on_the_response_url(engine, monkeypatch):
    import time

    import bot.console.commands as console

    real = console.compute_scores

    def slow(*a, **k):
        time.sleep(0.5)
        return real(*a, **k)

    monkeypatch.setattr(console, "compute_scores", slow)
    async with CxHarness(engine) as cx:
        started = time.monotonic()
        ack = await cx.sender.command(MANAGER, "scores")
        assert ack.status == 200 and ack.text == "" and time.monotonic() - started < 0.5
        await cx.rt.wait_idle()
        (answer,) = cx.slack.responses(ack.response_token)
        assert answer["response_type"] == "ephemeral" and "Scores for the last 7 days" in str(answer["blocks"])


async def test_app_home_for_an_agent_and_for_a_manager(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, detractor(1))
        record_response(engine, cx.ws, detractor(2))
        await cx.deliver()
        for who in (AGENT, MANAGER):
            await cx.sender.home_opened(who)
        await cx.rt.wait_idle()
        assert "You have no open cases" in str(cx.slack.home_views[AGENT]["blocks"])
        await cx.click(AGENT, cx.alert(1), "case_take")
        await cx.deliver()  # taking refreshes the Home of the new owner and of the team's managers
        agent = str(cx.slack.home_views[AGENT]["blocks"])
        assert "Your cases (1)" in agent and "#1" in agent and "unclaimed" not in agent
        assert "This week's scores" in agent and "Recent shout-outs" in agent
        manager = str(cx.slack.home_views[MANAGER]["blocks"])
        assert "Customer Support: unclaimed (1)" in manager and "#2" in manager


async def test_only_homes_opened_in_the_last_day_are_refreshed_and_any_home_is_current_when_opened(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, detractor(1))
        record_response(engine, cx.ws, detractor(2))
        await cx.deliver()
        await cx.sender.home_opened(MANAGER)
        await cx.rt.wait_idle()
        published = len(cx.slack.calls_to("views.publish"))
        cx.clock.now += timedelta(hours=25)  # the manager's Home was opened yesterday: not on screen now
        await cx.click(AGENT, cx.alert(1), "case_take")
        await cx.deliver()
        assert len(cx.slack.calls_to("views.publish")) == published, "nobody is looking at a Home now"
        assert AGENT not in cx.slack.home_views

        await cx.sender.home_opened(AGENT)  # opened: built from the database as it is now
        await cx.rt.wait_idle()
        assert "Your cases (1)" in str(cx.slack.home_views[AGENT]["blocks"])
        published = len(cx.slack.calls_to("views.publish"))
        await cx.click(AGENT, cx.alert(2), "case_take")
        await cx.deliver()  # the agent's Home is in use now: it follows the change; the manager's does not
        assert [c.body["user_id"] for c in cx.slack.calls_to("views.publish")[published:]] == [AGENT]
        assert "Your cases (2)" in str(cx.slack.home_views[AGENT]["blocks"])


async def test_a_team_change_made_in_another_process_is_seen_within_a_second(engine, db_url):
    import asyncio

    from storage.db import make_engine, session_scope
    from storage.models import TeamSetting

    async with CxHarness(engine) as cx:
        assert cx.rt.workspace.team("support").slack_channel == "C0SUPPORT"
        elsewhere = make_engine(db_url)  # another worker process, where a manager moved the team's alerts
        try:
            with session_scope(elsewhere) as s:
                s.add(TeamSetting(team="support", field="slack_channel", value="C0MOVED"))
        finally:
            elsewhere.dispose()
        await asyncio.sleep(1.2)
        assert cx.rt.workspace.team("support").slack_channel == "C0MOVED"
