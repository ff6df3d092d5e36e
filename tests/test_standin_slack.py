"""The Slack Web API stand-in, driven by the real slack_sdk clients."""

from __future__ import annotations

import asyncio
import json
import re
import struct
import threading
import time
import urllib.parse
import urllib.request
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from decimal import Decimal

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from standins.slack_api import SlackStandIn
from standins.slack_workspace import BOT_USER_ID

TOKEN = "xoxb-test"
SUPPORT = "C0SUPPORT"
CASE_METADATA = {"event_type": "cx_case_alert", "event_payload": {"case_id": 42}}
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Case 42* Waited 40 minutes on hold."}}]


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn.in_thread() as stand_in:
        yield stand_in


@pytest.fixture
def client(slack: SlackStandIn) -> WebClient:
    # No retry handlers: each test sees exactly what the stand-in answered.
    return WebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[])


@pytest.fixture
async def aslack() -> AsyncIterator[SlackStandIn]:
    async with SlackStandIn() as stand_in:
        yield stand_in


def async_client(stand_in: SlackStandIn, *, timeout: int = 30,
                 retry_handlers: list[AsyncRetryHandler] | None = None) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=stand_in.api_url, timeout=timeout, retry_handlers=retry_handlers or [])


def png_1x1() -> bytes:
    """A valid one-pixel PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x80\x00"))
            + chunk(b"IEND", b""))


def post_form(stand_in: SlackStandIn, method: str, fields: dict[str, str]) -> dict:
    """Call a method with a form body and no Authorization header, as a bare HTTP client might."""
    data = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(stand_in.api_url + method, data=data,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def api_error(excinfo: pytest.ExceptionInfo[SlackApiError]) -> tuple[int, str | None]:
    return excinfo.value.response.status_code, excinfo.value.response.get("error")


# ---- messages ------------------------------------------------------------------------------


def test_post_message_records_the_body_and_answers_like_slack(slack: SlackStandIn, client: WebClient) -> None:
    response = client.chat_postMessage(channel=SUPPORT, text="Case 42 needs an owner", blocks=BLOCKS,
                                       metadata=CASE_METADATA)

    assert response["channel"] == SUPPORT
    assert response["message"]["text"] == "Case 42 needs an owner"
    assert response["message"]["ts"] == response["ts"]
    assert response["message"]["user"] == BOT_USER_ID
    [call] = slack.calls_to("chat.postMessage")
    assert call.body["blocks"] == BLOCKS
    assert call.body["metadata"] == CASE_METADATA
    assert call.token == TOKEN
    assert {k.lower(): v for k, v in call.headers.items()}["authorization"] == f"Bearer {TOKEN}"
    assert call.status == 200
    assert abs(call.at - time.time()) < 5


def test_ts_are_unique_increasing_slack_timestamps(client: WebClient) -> None:
    stamps = [client.chat_postMessage(channel=channel, text="hi")["ts"]
              for _ in range(10) for channel in (SUPPORT, "C0BILLING")]

    assert all(re.fullmatch(r"\d{10}\.\d{6}", ts) for ts in stamps)
    assert [Decimal(ts) for ts in stamps] == sorted({Decimal(ts) for ts in stamps})


async def test_ts_stay_unique_under_concurrent_posts(aslack: SlackStandIn) -> None:
    client = async_client(aslack)
    answers = await asyncio.gather(*(client.chat_postMessage(channel=SUPPORT, text=f"m{i}") for i in range(40)))

    assert len({a["ts"] for a in answers}) == 40
    assert len(aslack.messages(SUPPORT)) == 40


def test_form_encoded_json_fields_are_decoded_and_a_form_token_is_accepted(slack: SlackStandIn) -> None:
    answer = post_form(slack, "chat.postMessage", {
        "token": TOKEN, "channel": SUPPORT, "text": "hi",
        "blocks": json.dumps(BLOCKS), "metadata": json.dumps(CASE_METADATA),
    })

    assert answer["ok"] is True
    [call] = slack.calls_to("chat.postMessage")
    assert call.body["blocks"] == BLOCKS
    assert call.body["metadata"] == CASE_METADATA
    assert call.token == TOKEN


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing:UserWarning")
def test_content_is_validated_like_slack(client: WebClient) -> None:
    for arguments, error in [({}, "no_text"), ({"text": "x" * 40_001}, "msg_too_long"),
                             ({"text": "hi", "blocks": [{"text": "no type"}]}, "invalid_blocks"),
                             ({"text": "hi", "metadata": {"event_type": "x"}}, "invalid_metadata_format")]:
        with pytest.raises(SlackApiError) as excinfo:
            client.chat_postMessage(channel=SUPPORT, **arguments)
        assert api_error(excinfo) == (200, error)


def test_update_changes_the_stored_message(slack: SlackStandIn, client: WebClient) -> None:
    ts = client.chat_postMessage(channel=SUPPORT, text="Case 42: open", metadata=CASE_METADATA)["ts"]

    updated = client.chat_update(channel=SUPPORT, ts=ts, text="Case 42: resolved", blocks=BLOCKS)

    assert updated["ts"] == ts
    assert updated["message"]["text"] == "Case 42: resolved"
    [stored] = slack.messages(SUPPORT)
    assert stored["text"] == "Case 42: resolved"
    assert stored["blocks"] == BLOCKS
    assert stored["metadata"] == CASE_METADATA  # fields not sent are kept
    assert "edited" in stored
    [read] = client.conversations_history(channel=SUPPORT)["messages"]
    assert read["text"] == "Case 42: resolved"


def test_update_of_an_unknown_message_fails(client: WebClient) -> None:
    ts = client.chat_postMessage(channel=SUPPORT, text="hi")["ts"]
    for channel, message_ts in [(SUPPORT, "1700000000.000100"), ("C0BILLING", ts)]:
        with pytest.raises(SlackApiError) as excinfo:
            client.chat_update(channel=channel, ts=message_ts, text="changed")
        assert api_error(excinfo) == (200, "message_not_found")


def test_history_is_newest_first_and_honours_limit_oldest_latest_and_cursor(client: WebClient) -> None:
    stamps = [client.chat_postMessage(channel=SUPPORT, text=f"m{i}")["ts"] for i in range(5)]
    client.chat_postMessage(channel="C0BILLING", text="elsewhere")

    def texts(**arguments: object) -> list[str]:
        return [m["text"] for m in client.conversations_history(channel=SUPPORT, **arguments)["messages"]]

    assert texts() == ["m4", "m3", "m2", "m1", "m0"]
    first = client.conversations_history(channel=SUPPORT, limit=2)
    assert [m["text"] for m in first["messages"]] == ["m4", "m3"]
    assert first["has_more"] is True
    rest = client.conversations_history(channel=SUPPORT, limit=2, cursor=first["response_metadata"]["next_cursor"])
    assert [m["text"] for m in rest["messages"]] == ["m2", "m1"]
    assert texts(oldest=stamps[1]) == ["m4", "m3", "m2"]
    assert texts(oldest=stamps[1], inclusive=True) == ["m4", "m3", "m2", "m1"]
    assert texts(oldest=stamps[1], latest=stamps[3]) == ["m2"]
    assert client.conversations_history(channel=SUPPORT, limit=10)["has_more"] is False


def test_history_returns_metadata_only_when_asked(client: WebClient) -> None:
    client.chat_postMessage(channel=SUPPORT, text="Case 42", metadata=CASE_METADATA)

    [plain] = client.conversations_history(channel=SUPPORT)["messages"]
    [full] = client.conversations_history(channel=SUPPORT, include_all_metadata=True)["messages"]

    assert "metadata" not in plain
    assert full["metadata"] == CASE_METADATA


def test_threads_are_stored_and_read_back(slack: SlackStandIn, client: WebClient) -> None:
    parent = client.chat_postMessage(channel=SUPPORT, text="Case 42")["ts"]
    client.chat_postMessage(channel=SUPPORT, text="note", thread_ts=parent)
    client.chat_postMessage(channel=SUPPORT, text="resolved", thread_ts=parent, reply_broadcast=True)
    stray = client.chat_postMessage(channel=SUPPORT, text="stray", thread_ts="1600000000.000001")

    history = client.conversations_history(channel=SUPPORT)["messages"]
    assert [m["text"] for m in history] == ["stray", "resolved", "Case 42"]
    assert history[2]["reply_count"] == 2
    assert "thread_ts" not in stray["message"]  # Slack posts a reply to nothing into the channel
    replies = client.conversations_replies(channel=SUPPORT, ts=parent)["messages"]
    assert [m["text"] for m in replies] == ["Case 42", "note", "resolved"]
    assert all(m["thread_ts"] == parent for m in replies)
    assert len(slack.messages(SUPPORT)) == 4
    with pytest.raises(SlackApiError) as excinfo:
        client.conversations_replies(channel=SUPPORT, ts="1600000000.000001")
    assert api_error(excinfo) == (200, "thread_not_found")


def test_ephemeral_and_permalink(slack: SlackStandIn, client: WebClient) -> None:
    ts = client.chat_postMessage(channel=SUPPORT, text="Case 42")["ts"]
    ephemeral = client.chat_postEphemeral(channel=SUPPORT, user="U0ALICE", text="Only you can see this")

    assert Decimal(ephemeral["message_ts"]) > Decimal(ts)
    assert slack.ephemerals[0]["user"] == "U0ALICE"
    assert [m["text"] for m in client.conversations_history(channel=SUPPORT)["messages"]] == ["Case 42"]
    link = client.chat_getPermalink(channel=SUPPORT, message_ts=ts)["permalink"]
    assert link.endswith(f"/archives/{SUPPORT}/p{ts.replace('.', '')}")
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_getPermalink(channel=SUPPORT, message_ts="1600000000.000001")
    assert api_error(excinfo) == (200, "message_not_found")


# ---- conversations, channels and users -----------------------------------------------------


def test_conversations_open_gives_a_stable_dm_per_user(client: WebClient) -> None:
    first = client.conversations_open(users="U0ALICE")
    again = client.conversations_open(users=["U0ALICE"])
    bob = client.conversations_open(users="U0BOB")
    group = client.conversations_open(users="U0ALICE,U0BOB")

    assert first["channel"]["id"].startswith("D")
    assert again["channel"]["id"] == first["channel"]["id"]
    assert (first["already_open"], again["already_open"]) == (False, True)
    assert bob["channel"]["id"] != first["channel"]["id"]
    assert group["channel"]["id"].startswith("G")
    dm = first["channel"]["id"]
    assert client.chat_postMessage(channel="U0ALICE", text="hi")["channel"] == dm
    assert [m["text"] for m in client.conversations_history(channel=dm)["messages"]] == ["hi"]
    with pytest.raises(SlackApiError) as excinfo:
        client.conversations_open(users="bogus")
    assert api_error(excinfo) == (200, "user_not_found")


def test_known_channels_restrict_where_messages_go(slack: SlackStandIn, client: WebClient) -> None:
    slack.add_channel(SUPPORT, name="support")

    assert client.chat_postMessage(channel="#support", text="by name")["channel"] == SUPPORT
    assert client.chat_postMessage(channel=SUPPORT, text="by id")["ok"]
    for channel in ("C0BILLING", "#billing", "not-a-channel"):
        with pytest.raises(SlackApiError) as excinfo:
            client.chat_postMessage(channel=channel, text="hi")
        assert api_error(excinfo) == (200, "channel_not_found")


def test_any_channel_id_is_accepted_until_channels_are_declared(client: WebClient) -> None:
    assert client.chat_postMessage(channel="C0ANYTHING", text="hi")["ok"]
    assert client.chat_postMessage(channel="G0PRIVATE", text="hi")["ok"]
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="support", text="hi")
    assert api_error(excinfo) == (200, "channel_not_found")


def test_users_info_and_list(slack: SlackStandIn, client: WebClient) -> None:
    slack.add_user("U0ALICE", name="Alice Martin", tz="Europe/London", tz_offset=0, email="alice@example.com")
    slack.add_user("U0BOB", name="Bob Chen", tz="America/New_York")

    alice = client.users_info(user="U0ALICE")["user"]
    assert alice["real_name"] == "Alice Martin"
    assert (alice["tz"], alice["tz_offset"]) == ("Europe/London", 0)
    assert alice["profile"]["email"] == "alice@example.com"
    assert client.users_info(user="U0BOB")["user"]["tz_offset"] in (-18000, -14400)
    members = {m["id"]: m for m in client.users_list()["members"]}
    assert {"U0ALICE", "U0BOB", BOT_USER_ID} == set(members)
    assert members[BOT_USER_ID]["is_bot"] is True
    with pytest.raises(SlackApiError) as excinfo:
        client.users_info(user="U0NOBODY")
    assert api_error(excinfo) == (200, "user_not_found")


# ---- views ----------------------------------------------------------------------------------


def test_views_open_update_and_hash_conflict(client: WebClient) -> None:
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Case 42"}, "blocks": BLOCKS,
             "private_metadata": json.dumps({"case_id": 42})}
    opened = client.views_open(trigger_id="1337.42.abcd", view=modal)["view"]
    assert opened["id"].startswith("V")
    assert opened["private_metadata"] == modal["private_metadata"]

    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view={**modal, "blocks": []})["view"]
    assert updated["id"] == opened["id"]
    assert updated["blocks"] == []
    with pytest.raises(SlackApiError) as excinfo:
        client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal)  # stale hash
    assert api_error(excinfo) == (200, "hash_conflict")
    with pytest.raises(SlackApiError) as excinfo:
        client.views_update(view_id="V0NOTHERE", view=modal)
    assert api_error(excinfo) == (200, "not_found")
    assert client.views_push(trigger_id="1337.42.abce", view=modal)["view"]["id"] != opened["id"]


def test_views_publish_stores_the_home_tab_per_user(slack: SlackStandIn, client: WebClient) -> None:
    home = {"type": "home", "blocks": BLOCKS}
    client.views_publish(user_id="U0ALICE", view=home)

    assert slack.home_views["U0ALICE"]["blocks"] == BLOCKS
    assert "U0BOB" not in slack.home_views
    with pytest.raises(SlackApiError) as excinfo:
        client.views_publish(user_id="U0ALICE", view={"type": "modal", "blocks": []})
    assert api_error(excinfo) == (200, "invalid_arguments")


# ---- files ----------------------------------------------------------------------------------


def test_files_upload_v2_works_end_to_end(slack: SlackStandIn, client: WebClient) -> None:
    png = png_1x1()
    response = client.files_upload_v2(file=png, filename="nps-trend.png", title="NPS trend", channel=SUPPORT,
                                      initial_comment="This week's scores")

    file_id = response["file"]["id"]
    assert [c.method for c in slack.calls] == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    assert int(slack.calls_to("files.getUploadURLExternal")[0].body["length"]) == len(png)
    assert slack.calls_to("upload")[0].body["content"] == png
    assert slack.calls_to("files.completeUploadExternal")[0].body["files"] == [{"id": file_id, "title": "NPS trend"}]
    assert slack.files[file_id]["content"] == png
    assert (response["file"]["mimetype"], response["file"]["size"]) == ("image/png", len(png))
    [shared] = client.conversations_history(channel=SUPPORT)["messages"]
    assert shared["text"] == "This week's scores"
    assert shared["files"][0]["id"] == file_id


def test_completing_an_upload_whose_bytes_never_arrived_fails(client: WebClient) -> None:
    file_id = client.files_getUploadURLExternal(filename="a.png", length=10)["file_id"]
    with pytest.raises(SlackApiError) as excinfo:
        client.files_completeUploadExternal(files=[{"id": file_id}], channel_id=SUPPORT)
    assert api_error(excinfo) == (200, "file_not_found")


async def test_files_upload_v2_with_the_async_client(aslack: SlackStandIn) -> None:
    png = png_1x1()
    response = await async_client(aslack).files_upload_v2(content=png, filename="chart.png", channel=SUPPORT)

    assert aslack.files[response["file"]["id"]]["content"] == png
    assert [c.status for c in aslack.calls] == [200, 200, 200]


# ---- the async client and in-loop mode ------------------------------------------------------


async def test_async_client_in_the_running_loop(aslack: SlackStandIn) -> None:
    client = async_client(aslack)
    for i in range(3):
        await client.chat_postMessage(channel=SUPPORT, text=f"m{i}", metadata=CASE_METADATA)

    # AsyncWebClient sends "GET" methods' arguments in the query string.
    history = await client.conversations_history(channel=SUPPORT, limit=2, include_all_metadata=True)

    assert [m["text"] for m in history["messages"]] == ["m2", "m1"]
    assert history["messages"][0]["metadata"] == CASE_METADATA
    assert aslack.calls_to("conversations.history")[0].body["limit"] == "2"
    assert aslack.calls_to("chat.postMessage")[0].body["metadata"] == CASE_METADATA


# ---- authentication and unknown methods ----------------------------------------------------


def test_missing_or_wrong_token_is_refused(slack: SlackStandIn) -> None:
    for token, error in [(None, "not_authed"), ("xoxb-wrong", "invalid_auth")]:
        client = WebClient(token=token, base_url=slack.api_url, retry_handlers=[])
        with pytest.raises(SlackApiError) as excinfo:
            client.chat_postMessage(channel=SUPPORT, text="hi")
        assert api_error(excinfo) == (200, error)
    assert slack.messages(SUPPORT) == []
    assert post_form(slack, "auth.test", {"token": "xoxb-wrong"}) == {"ok": False, "error": "invalid_auth"}


def test_auth_test_identifies_the_bot(client: WebClient) -> None:
    answer = client.auth_test()
    assert (answer["user_id"], answer["team_id"]) == (BOT_USER_ID, "T0CXLOOP")
    assert answer["bot_id"]
    assert "chat:write" in answer.headers["X-OAuth-Scopes"]


def test_unknown_method(slack: SlackStandIn, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("chat.frobnicate", json={"channel": SUPPORT})
    assert api_error(excinfo) == (200, "unknown_method")
    assert slack.calls_to("chat.frobnicate")[0].body == {"channel": SUPPORT}


# ---- injected faults -----------------------------------------------------------------------


def test_injected_429_surfaces_with_retry_after(slack: SlackStandIn, client: WebClient) -> None:
    slack.fail_next("chat.postMessage", status=429, retry_after=7)

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel=SUPPORT, text="hi")

    assert api_error(excinfo) == (429, "ratelimited")
    assert excinfo.value.response.headers["Retry-After"] == "7"
    assert slack.messages(SUPPORT) == []
    assert slack.rejected_429 == 1
    assert client.chat_postMessage(channel=SUPPORT, text="hi")["ok"]  # the fault was used up


def test_rate_limit_retry_handler_waits_and_succeeds(slack: SlackStandIn) -> None:
    client = WebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[RateLimitErrorRetryHandler()])
    slack.fail_next("chat.postMessage", status=429, retry_after=1)

    started = time.monotonic()
    assert client.chat_postMessage(channel=SUPPORT, text="hi")["ok"]

    assert time.monotonic() - started >= 1.0  # the handler honoured Retry-After
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [429, 200]
    assert len(slack.messages(SUPPORT)) == 1


async def test_async_rate_limit_retry_handler_succeeds(aslack: SlackStandIn) -> None:
    client = async_client(aslack, retry_handlers=[AsyncRateLimitErrorRetryHandler()])
    aslack.fail_next("chat.postMessage", status=429, retry_after=0)

    assert (await client.chat_postMessage(channel=SUPPORT, text="hi"))["ok"]
    assert [c.status for c in aslack.calls_to("chat.postMessage")] == [429, 200]


def test_injected_500s_are_consumed_in_order(slack: SlackStandIn, client: WebClient) -> None:
    slack.fail_next("chat.postMessage", status=500, times=2)
    slack.fail_next("chat.postMessage", error="is_archived")

    outcomes = []
    for _ in range(4):
        try:
            client.chat_postMessage(channel=SUPPORT, text="hi")
            outcomes.append((200, None))
        except SlackApiError as exc:
            outcomes.append((exc.response.status_code, exc.response.get("error")))

    assert outcomes == [(500, "internal_error"), (500, "internal_error"), (200, "is_archived"), (200, None)]
    assert len(slack.messages(SUPPORT)) == 1
    assert client.auth_test()["ok"]  # faults belong to one method


def test_server_error_retry_handler_recovers_from_one_500(slack: SlackStandIn) -> None:
    client = WebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[ServerErrorRetryHandler()])
    slack.fail_next("chat.update", status=500)
    ts = client.chat_postMessage(channel=SUPPORT, text="open")["ts"]

    assert client.chat_update(channel=SUPPORT, ts=ts, text="resolved")["ok"]
    assert [c.status for c in slack.calls_to("chat.update")] == [500, 200]


def test_fail_after_processing_stores_the_message_but_answers_500(slack: SlackStandIn, client: WebClient) -> None:
    slack.fail_after_processing("chat.postMessage")

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel=SUPPORT, text="Case 42", metadata=CASE_METADATA)

    assert excinfo.value.response.status_code == 500
    # The client never learnt the ts, but it can find the message by its metadata.
    history = client.conversations_history(channel=SUPPORT, include_all_metadata=True)["messages"]
    assert [m["metadata"] for m in history] == [CASE_METADATA]
    assert client.chat_postMessage(channel=SUPPORT, text="next")["ok"]


def test_a_delay_longer_than_the_client_timeout_raises(slack: SlackStandIn) -> None:
    client = WebClient(token=TOKEN, base_url=slack.api_url, timeout=1, retry_handlers=[])
    slack.fail_next("chat.postMessage", delay=5.0)

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        client.chat_postMessage(channel=SUPPORT, text="hi")
    assert time.monotonic() - started < 3


def test_a_short_delay_answers_late_but_normally(slack: SlackStandIn, client: WebClient) -> None:
    slack.fail_next("chat.postMessage", delay=0.3)

    started = time.monotonic()
    assert client.chat_postMessage(channel=SUPPORT, text="hi")["ok"]
    assert time.monotonic() - started >= 0.3


async def test_async_client_times_out_on_a_delay(aslack: SlackStandIn) -> None:
    aslack.fail_next("chat.postMessage", delay=5.0)

    with pytest.raises(asyncio.TimeoutError):
        await async_client(aslack, timeout=1).chat_postMessage(channel=SUPPORT, text="hi")


# ---- channel rate enforcement --------------------------------------------------------------


def test_enforced_channel_rate_answers_429_with_retry_after() -> None:
    with SlackStandIn.in_thread(enforce_channel_rate=True) as slack:
        client = WebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[])
        client.chat_postMessage(channel=SUPPORT, text="first")
        with pytest.raises(SlackApiError) as excinfo:
            client.chat_postMessage(channel=SUPPORT, text="too soon")
        assert api_error(excinfo) == (429, "ratelimited")
        assert excinfo.value.response.headers["Retry-After"] == "1"
        assert client.chat_postMessage(channel="C0BILLING", text="another channel")["ok"]
        assert client.chat_update(channel=SUPPORT, ts=slack.messages(SUPPORT)[0]["ts"], text="edit")["ok"]
        assert slack.rejected_429 == 1
        assert [m["text"] for m in slack.messages(SUPPORT)] == ["edit"]

        time.sleep(1.05)
        assert client.chat_postMessage(channel=SUPPORT, text="later")["ok"]


def test_enforced_channel_rate_with_the_retry_handler_spaces_posts() -> None:
    with SlackStandIn.in_thread(enforce_channel_rate=True) as slack:
        client = WebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[RateLimitErrorRetryHandler()])
        stamps = [Decimal(client.chat_postMessage(channel=SUPPORT, text=f"m{i}")["ts"]) for i in range(2)]

        assert stamps[1] - stamps[0] >= 1
        assert slack.rejected_429 >= 1


# ---- lifecycle ------------------------------------------------------------------------------


def test_many_instances_bind_their_own_ports_and_leave_no_threads() -> None:
    before = set(threading.enumerate())
    with ExitStack() as stack:
        stand_ins = [stack.enter_context(SlackStandIn.in_thread()) for _ in range(5)]
        assert len({s.url for s in stand_ins}) == 5
        assert all(s.url.startswith("http://127.0.0.1:") for s in stand_ins)
        for s in stand_ins:
            WebClient(token=TOKEN, base_url=s.api_url).chat_postMessage(channel=SUPPORT, text="hi")
            assert len(s.messages(SUPPORT)) == 1
    assert set(threading.enumerate()) == before


def test_closing_does_not_wait_for_a_delayed_answer() -> None:
    with SlackStandIn.in_thread() as slack:
        slack.fail_next("chat.postMessage", delay=60)
        client = WebClient(token=TOKEN, base_url=slack.api_url, timeout=1, retry_handlers=[])
        with pytest.raises(TimeoutError):
            client.chat_postMessage(channel=SUPPORT, text="hi")
        started = time.monotonic()
    assert time.monotonic() - started < 0.9  # well under the server's own 1 s shutdown grace


async def test_async_instances_run_side_by_side() -> None:
    async with SlackStandIn() as one, SlackStandIn() as two:
        await async_client(one).chat_postMessage(channel=SUPPORT, text="one")
        assert one.url != two.url
        assert len(one.messages(SUPPORT)) == 1
        assert two.messages(SUPPORT) == []


def test_wait_for_calls_blocks_until_answered(slack: SlackStandIn, client: WebClient) -> None:
    slack.fail_next("chat.postMessage", delay=0.3)
    worker = threading.Thread(target=client.chat_postMessage, kwargs={"channel": SUPPORT, "text": "hi"})
    worker.start()

    started = time.monotonic()
    [call] = slack.wait_for_calls("chat.postMessage", timeout=5)

    assert time.monotonic() - started < 2  # woken by the answer, not by the timeout
    assert call.status == 200
    worker.join()
    with pytest.raises(TimeoutError):
        slack.wait_for_calls("chat.postMessage", count=2, timeout=0.2)
