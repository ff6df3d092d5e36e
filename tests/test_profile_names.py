"""Names from the chat profile: a workspace that lists its members by chat id only still credits the
person customer praise names, by the name Slack (users.info) or Teams (activities, the team roster)
shows; the YAML's names win; two people a name fits means no one is credited."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from handlers.jobs import run_due
from storage.models import Member, MemberProfile, Shoutout
from tests.conftest import TEST_NOW
from tests.harness import CxHarness
from tests.loops_factories import answer, workspace
from tests.teams_harness import ALICE, TeamsHarness, teams_workspace

AN_HOUR_AGO = TEST_NOW - timedelta(hours=1)


def credited(engine) -> list[str]:
    """Who each customer shout-out went to (Slack id, else Teams id), in order."""
    with Session(engine) as s:
        rows = s.exec(select(Member).join(Shoutout, Shoutout.to_member_id == Member.id)
                      .where(Shoutout.source == "customer").order_by(Shoutout.id)).all()
        return [m.slack_user_id or m.teams_user_id for m in rows]


def praise(engine, ws, comment: str) -> None:
    answer(engine, ws, score=10, at=AN_HOUR_AGO, comment=comment)


async def test_names_learned_from_slack_profiles_credit_praise_and_the_yaml_wins(engine):
    ws = workspace(people={"U0CARLOS": {"name": "Charlie Ruiz"}})  # the YAML names only Carlos, as "Charlie"
    async with CxHarness(engine, workspace=ws) as cx:
        cx.slack.add_user("U0ALICE", name="Alice Martin", display_name="ali")
        cx.slack.add_user("U0BOB", name="Bob Okafor")
        cx.slack.add_user("U0CARLOS", name="Carlos Ruiz")
        cx.slack.add_user("U0SAM", name="Sam Taylor")
        cx.slack.add_user("U0JONAS", name="Sam Berg", display_name="jonas")
        praise(engine, ws, "Bob fixed it on the first call")
        assert credited(engine) == []  # nobody's names are known yet: the problem this solves
        summary = await run_due(engine, ws, cx.settings, at=TEST_NOW, deliverer=cx.deliverer)
        assert summary["time_zones_refreshed"] >= 5
        with Session(engine) as s:
            alice = s.exec(select(MemberProfile).join(Member, Member.id == MemberProfile.member_id)
                           .where(Member.slack_user_id == "U0ALICE")).one()
            assert (alice.platform, alice.real_name, alice.display_name) == ("slack", "Alice Martin", "ali")
        # the week's praise is read again by the `assist` job: Bob is credited now, once
        assert credited(engine) == ["U0BOB"]
        praise(engine, ws, "Alice Martin was brilliant, and Bob too")
        praise(engine, ws, "Carlos sorted the refund")  # the YAML calls him Charlie: no match
        praise(engine, ws, "Charlie sorted the refund")
        praise(engine, ws, "Sam was great")  # Sam Taylor or Sam Berg? neither
        praise(engine, ws, "Sam Taylor was great, thanks Jonas")
        assert credited(engine) == ["U0BOB", "U0ALICE", "U0BOB", "U0CARLOS", "U0SAM", "U0JONAS"]
        # a week on, the profiles are read again (a renamed person is found by the new name)
        cx.slack.add_user("U0BOB", name="Roberta Okafor")
        later = TEST_NOW + timedelta(days=8)
        cx.clock.now = later
        await run_due(engine, ws, cx.settings, at=later, deliverer=cx.deliverer)
        answer(engine, ws, score=10, at=later - timedelta(hours=1), comment="Roberta was a star")
        assert credited(engine)[-1] == "U0BOB"


async def test_names_learned_from_teams_roster_and_activities_credit_praise(engine):
    data = teams_workspace().model_dump(mode="json", exclude_none=True)
    data["people"] = {}  # members by id only, as a real Teams workspace would list them
    from bot.config import parse_workspace

    ws = parse_workspace(data)
    async with TeamsHarness(engine, workspace=ws) as cx:
        answer(engine, ws, score=10, at=AN_HOUR_AGO, comment="Priya was so patient")
        assert credited(engine) == []
        await cx.install()  # the team's roster is read: every member cxloop knows gets their Teams name
        answer(engine, ws, score=10, at=AN_HOUR_AGO, comment="Priya was so patient")
        assert credited(engine) == ["U0PRIYA"]  # her Teams id is linked to her Slack id (teams_members)
        # a name seen on an activity: Alice now shows as "Alicia Martin" in Teams
        cx.teams.users[ALICE].name = "Alicia Martin"
        chat = await cx.teams.install_personal(cx.bot_url, ALICE)
        status, _ = await cx.teams.message(cx.bot_url, ALICE, "cx help", conversation=chat)
        assert status < 300
        answer(engine, ws, score=10, at=AN_HOUR_AGO, comment="Alicia knew exactly what to do")
        assert credited(engine) == ["U0PRIYA", "U0ALICE"]
