"""`cx …` in Teams: the same commands and permissions as `/cx`, answered where they were asked."""

from __future__ import annotations

from sqlmodel import Session, select

from bot.intake.store import record_response
from standins.teams_cards import text_of
from storage.models import ConversationRef, Member
from tests.teams_harness import ALICE, BOB, MANAGER, OUTSIDER, SUPPORT, TeamsHarness
from tests.test_teams_flow import detractor


def replies(cx: TeamsHarness, chat: str) -> list[dict]:
    return [a for a in cx.teams.activities(chat) if (a.get("from") or {}).get("id") == cx.teams.bot_id]


async def test_cx_help_in_a_personal_chat_lists_what_the_caller_may_use_in_teams_words(engine):
    async with TeamsHarness(engine) as cx:
        chat = await cx.teams.install_personal(cx.bot_url, ALICE)
        ref = next(r for r in cx.refs() if r.conversation_id == chat)
        assert ref.kind == "personal" and ref.user_id == ALICE
        status, _ = await cx.teams.message(cx.bot_url, ALICE, "cx help", conversation=chat)
        assert status == 200
        welcome, answer = replies(cx, chat)
        assert "cx help" in text_of(welcome)
        shown = text_of(answer)
        assert "cx mine" in shown and "cx case ID" in shown and "You are an agent." in shown
        assert "/cx" not in shown
        assert "cx role" not in shown  # admins only


def answer_in_thread(cx: TeamsHarness, aad: str, channel: str = SUPPORT) -> dict:
    """The bot's one reply in the thread of `aad`'s latest post in the channel."""
    command = [p for p in cx.teams.posts(channel) if (p.get("from") or {}).get("aadObjectId") == aad][-1]
    (answer,) = cx.teams.thread(channel, command["id"])
    return answer


async def test_cx_case_in_a_channel_goes_to_the_askers_personal_chat_with_a_pointer_in_the_thread(engine):
    async with TeamsHarness(engine) as cx:
        await cx.install()
        chat = await cx.teams.install_personal(cx.bot_url, ALICE)
        record_response(engine, cx.ws, detractor())
        await cx.deliver()
        status, _ = await cx.teams.message(cx.bot_url, ALICE, "cx case 1", conversation=SUPPORT)
        assert status == 200
        pointer = text_of(answer_in_thread(cx, ALICE))
        assert "sent you the answer in our personal chat" in pointer
        for private in ("Dana", "d…@example.com", "Waited 40 minutes", "NPS 3", "History"):
            assert private not in pointer
        await cx.deliver()
        case = text_of(replies(cx, chat)[-1])
        assert "NPS 3" in case and "Dana Reyes" in case and "Waited 40 minutes" in case and "History" in case
        # the answer is stored once, as Alice's, and a redelivered command queues nothing more
        (row,) = [o for o in cx.outbox() if o.dedupe_key.startswith("teams:answer:")]
        assert (row.action, row.target, row.status) == ("dm", ALICE, "sent")
        await cx.teams.post(cx.bot_url, cx.teams.to_bot[-1]["activity"])
        assert len([o for o in cx.outbox() if o.dedupe_key.startswith("teams:answer:")]) == 1


async def test_cx_case_in_a_channel_without_a_personal_chat_is_refused_there_and_nothing_is_sent(engine):
    async with TeamsHarness(engine) as cx:
        await cx.install()
        record_response(engine, cx.ws, detractor())
        await cx.deliver()
        before = len(cx.outbox())
        await cx.teams.message(cx.bot_url, ALICE, "cx case 1", conversation=SUPPORT)
        refusal = text_of(answer_in_thread(cx, ALICE))
        assert "only in our personal chat, and we have none yet" in refusal
        assert "Dana" not in refusal and "NPS 3" not in refusal
        assert len(cx.outbox()) == before and cx.teams.personal_chat(ALICE) is None


async def test_a_digest_preview_in_a_channel_never_says_only_you_can_see_this_there(engine):
    async with TeamsHarness(engine) as cx:
        await cx.install()
        chat = await cx.teams.install_personal(cx.bot_url, MANAGER)
        await cx.teams.message(cx.bot_url, MANAGER, "cx digest preview", conversation=SUPPORT)
        in_channel = text_of(answer_in_thread(cx, MANAGER))
        assert "only you can see this" not in in_channel and "personal chat" in in_channel
        await cx.deliver()
        preview = text_of(replies(cx, chat)[-1])
        assert "weekly digest" in preview and "only you can see this" in preview


async def test_in_a_group_chat_someones_open_cases_go_to_their_personal_chat(engine):
    async with TeamsHarness(engine) as cx:
        await cx.install()
        record_response(engine, cx.ws, detractor())
        await cx.deliver()
        await cx.click(BOB, cx.alert(1), "Take it")
        group = "19:meeting-chat@thread.v2"
        cx.teams.add_group_chat(group, [ALICE, BOB])
        await cx.teams.install_in_group_chat(cx.bot_url, group, by=ALICE)
        await cx.deliver()
        dms_before = len(cx.dm(BOB))
        await cx.teams.message(cx.bot_url, BOB, "cx mine", conversation=group)
        assert "personal chat" in text_of(replies(cx, group)[-1]) and "#1" not in text_of(replies(cx, group)[-1])
        await cx.deliver()
        assert len(cx.dm(BOB)) == dms_before + 1 and "#1" in text_of(cx.dm(BOB)[-1])


async def test_in_the_personal_chat_the_answer_comes_straight_back(engine):
    async with TeamsHarness(engine) as cx:
        await cx.install()
        chat = await cx.teams.install_personal(cx.bot_url, ALICE)
        record_response(engine, cx.ws, detractor())
        await cx.deliver()
        await cx.teams.message(cx.bot_url, ALICE, "cx case 1", conversation=chat)
        assert "Dana Reyes" in text_of(replies(cx, chat)[-1])
        assert not [o for o in cx.outbox() if o.dedupe_key.startswith("teams:answer:")]


async def test_a_refusal_names_the_role_needed_and_nothing_happens(engine):
    async with TeamsHarness(engine) as cx:
        chat = await cx.teams.install_personal(cx.bot_url, ALICE)
        await cx.teams.message(cx.bot_url, ALICE, "cx overdue", conversation=chat)
        answer = replies(cx, chat)[-1]
        assert "`cx overdue` needs the manager role; you are an agent" in text_of(answer)
        await cx.teams.message(cx.bot_url, ALICE, "cx mien", conversation=chat)
        assert "Did you mean `cx mine`" in text_of(replies(cx, chat)[-1])


async def test_someone_new_becomes_an_agent_on_first_sight(engine):
    async with TeamsHarness(engine) as cx:
        chat = await cx.teams.install_personal(cx.bot_url, OUTSIDER[0])
        await cx.teams.message(cx.bot_url, OUTSIDER[0], "mine", conversation=chat)  # `cx` is optional in a chat
        assert "no open cases" in text_of(replies(cx, chat)[-1])
        with Session(engine) as s:
            m = s.exec(select(Member).where(Member.teams_user_id == OUTSIDER[0])).one()
            assert (m.name, m.role, m.slack_user_id) == ("Olive Outsider", "agent", None)


async def test_a_manager_assigns_with_a_teams_mention_and_the_assignee_hears_in_their_chat(engine):
    async with TeamsHarness(engine) as cx:
        await cx.install()
        record_response(engine, cx.ws, detractor())
        await cx.deliver()
        status, _ = await cx.teams.message(cx.bot_url, MANAGER, "cx assign 1 @Bob Okafor", conversation=SUPPORT,
                                           mentions=[BOB])
        assert status == 200
        command = cx.teams.posts(SUPPORT)[-1]
        (answer,) = cx.teams.thread(SUPPORT, command["id"])
        assert "Case #1 is now with" in text_of(answer) and "Bob Okafor" in text_of(answer)
        await cx.deliver()
        assert "Bob Okafor" in text_of(cx.alert(1))
        assert len(cx.dm(BOB)) == 1 and "RESOLVED" in text_of(cx.dm(BOB)[0])


async def test_a_redelivered_message_runs_its_command_once(engine):
    async with TeamsHarness(engine) as cx:
        chat = await cx.teams.install_personal(cx.bot_url, ALICE)
        await cx.teams.message(cx.bot_url, ALICE, "cx help", conversation=chat)
        first = cx.teams.to_bot[-1]["activity"]
        before = len(replies(cx, chat))
        status, _ = await cx.teams.post(cx.bot_url, first)
        assert status == 200 and len(replies(cx, chat)) == before


async def test_removing_cxloop_from_a_team_forgets_its_channels(engine):
    async with TeamsHarness(engine) as cx:
        await cx.install()
        assert any(r.team_id for r in cx.refs())
        status, _ = await cx.teams.uninstall_from_team(cx.bot_url, "19:general-cx@thread.tacv2", by=MANAGER)
        assert status == 200
        with Session(engine) as s:
            assert s.exec(select(ConversationRef).where(ConversationRef.team_id.is_not(None))).all() == []


async def test_a_manager_adds_someone_new_to_a_team_with_a_mention_and_they_can_take_cases(engine):
    async with TeamsHarness(engine) as cx:
        await cx.install()
        record_response(engine, cx.ws, detractor())
        await cx.deliver()
        outsider = OUTSIDER[0]
        refused = await cx.click(outsider, cx.alert(1), "Take it")
        assert "support" in refused["task"]["value"]
        await cx.teams.message(cx.bot_url, MANAGER, "cx team add @Olive Outsider support", conversation=SUPPORT,
                               mentions=[outsider])
        answer = cx.teams.thread(SUPPORT, cx.teams.posts(SUPPORT)[-1]["id"])[0]
        assert "Added" in text_of(answer) and "support" in text_of(answer)
        taken = await cx.click(outsider, cx.alert(1), "Take it")
        assert "You took case #1" in taken["task"]["value"]


async def test_a_group_chat_install_is_remembered(engine):
    async with TeamsHarness(engine) as cx:
        chat = "19:meeting-chat@thread.v2"
        cx.teams.add_group_chat(chat, [ALICE, BOB])
        status, _ = await cx.teams.install_in_group_chat(cx.bot_url, chat, by=ALICE)
        assert status == 200
        ref = next(r for r in cx.refs() if r.conversation_id == chat)
        assert ref.kind == "groupChat" and ref.team_id is None and ref.user_id is None
        await cx.teams.message(cx.bot_url, BOB, "cx mine", conversation=chat)
        assert "no open cases" in text_of(replies(cx, chat)[-1])
