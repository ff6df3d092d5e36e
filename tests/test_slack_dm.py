"""Talking to cxloop in its Slack DM: `cx …`, `help` and `mine` answer as `/cx` does, with the same
permissions; anything else gets a pointer; an event Slack delivers twice is answered once."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from tests.harness import TOKEN, CxHarness, text_of
from tests.loops_factories import answer
from tests.conftest import TEST_NOW


async def dm_channel(cx: CxHarness, user: str) -> str:
    """The person's DM with the bot, as their Slack client opens it (the app's Messages tab)."""
    client = AsyncWebClient(token=TOKEN, base_url=cx.slack.api_url)
    return (await client.conversations_open(users=user))["channel"]["id"]


async def say(cx: CxHarness, user: str, text: str, *, event_id: str | None = None) -> list[str]:
    """`user` types `text` in the bot's DM; returns everything cxloop has posted there since."""
    channel = await dm_channel(cx, user)
    before = len(cx.posted(channel))
    reply = await cx.sender.event({"type": "message", "channel": channel, "channel_type": "im", "user": user,
                                   "text": text, "ts": "1764079200.000100"}, event_id=event_id)
    assert reply.status == 200
    await cx.deliver()
    return [text_of(m) for m in cx.posted(channel)[before:]]


async def test_help_and_mine_typed_in_the_dm_answer_as_the_slash_command_does(engine):
    async with CxHarness(engine) as cx:
        (helped,) = await say(cx, "U0ALICE", "help")
        assert "mine" in helped and "kudos" in helped
        case = answer(engine, cx.ws, score=2, at=TEST_NOW, customer_id="c-1").case_id
        from bot.cases import service as cases
        from bot.people.roster import actor_for, member_by_slack
        from storage.db import session_scope

        with session_scope(engine) as s:
            cases.take(s, actor_for(s, member_by_slack(s, "U0ALICE")), case, now=TEST_NOW)
        (mine,) = await say(cx, "U0ALICE", "mine")
        assert f"#{case}" in mine and "Your open cases (1)" in mine
        (same,) = await say(cx, "U0ALICE", "cx mine")
        assert same == mine


async def test_the_dm_keeps_the_slash_commands_permissions(engine):
    async with CxHarness(engine) as cx:
        answer(engine, cx.ws, score=2, at=TEST_NOW)
        (refused,) = await say(cx, "U0ALICE", "cx assign 1 <@U0BOB>")
        assert "needs the manager role" in refused
        (done,) = await say(cx, "U0MANAGER", "cx assign 1 <@U0BOB>")
        assert "needs the manager role" not in done and "<@U0BOB>" in done


async def test_anything_else_gets_a_pointer_and_a_redelivered_event_is_answered_once(engine):
    async with CxHarness(engine) as cx:
        (pointer,) = await say(cx, "U0BOB", "hello? anyone there", event_id="Ev00DM0001")
        assert "`cx help`" in pointer
        assert await say(cx, "U0BOB", "hello? anyone there", event_id="Ev00DM0001") == []
        # the bot's own posts and edits in the DM are not commands
        channel = await dm_channel(cx, "U0BOB")
        reply = await cx.sender.event({"type": "message", "subtype": "message_changed", "channel": channel,
                                       "channel_type": "im", "message": {"text": "help"}, "ts": "1.2"})
        assert reply.status == 200
        await cx.deliver()
        assert len(cx.posted(channel)) == 1
