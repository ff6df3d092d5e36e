"""POST /api/messages at the door: whole bodies up to 1 MiB, bounded parsing, and 401 (never 500) for any token."""

from __future__ import annotations

import json
import logging

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import Session

from handlers.body import MAX_BODY
from standins.teams_cards import text_of
from storage.models import ConversationRef, InboxItem, ProcessedEvent
from tests.raw_http import post_in_pieces
from tests.teams_harness import ALICE, SUPPORT, TEAM, TeamsHarness

JSON = {"Content-Type": "application/json"}


def install_activity(cx: TeamsHarness) -> dict:
    return cx.teams.envelope(cx.teams.users[ALICE], TEAM, type="conversationUpdate", eventType="teamMemberAdded",
                             membersAdded=[{"id": cx.teams.bot_id}])


def of_size(activity: dict, size: int) -> bytes:
    """`activity` padded (in channelData, which cxloop ignores) to exactly `size` bytes."""
    doc = {**activity, "channelData": {**activity["channelData"], "padding": ""}}
    doc["channelData"]["padding"] = "x" * (size - len(json.dumps(doc).encode()))
    raw = json.dumps(doc).encode()
    assert len(raw) == size
    return raw


def rows(engine) -> tuple[int, int, int]:
    """Conversation references, processed events and inbox items stored."""
    with Session(engine) as s:
        return tuple(s.execute(select(func.count()).select_from(t)).scalar_one()  # type: ignore[return-value]
                     for t in (ConversationRef, ProcessedEvent, InboxItem))


@pytest.fixture
async def cx(engine):  # type: ignore[no-untyped-def]
    async with TeamsHarness(engine) as harness:
        yield harness


def signed(cx: TeamsHarness) -> dict[str, str]:
    return {**JSON, "Authorization": f"Bearer {cx.teams.channel_token()}"}


async def stored_channels(cx: TeamsHarness) -> set[str]:
    await cx.rt.wait_idle()
    return {r.conversation_id for r in cx.refs()}


@pytest.mark.parametrize("size", [500_000, 900_000])
async def test_activities_of_500_and_900_kb_are_taken_whole(cx, size):
    async with aiohttp.ClientSession() as http:
        async with http.post(cx.bot_url, data=of_size(install_activity(cx), size), headers=signed(cx)) as r:
            assert r.status == 200, await r.text()
    assert {TEAM, SUPPORT} <= await stored_channels(cx)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_an_activity_over_one_mebibyte_is_413_and_stores_nothing(cx, engine, chunked):
    r = await post_in_pieces(cx.bot_url, of_size(install_activity(cx), MAX_BODY + 1), signed(cx), pause=0.01,
                             chunked=chunked)
    assert r.status == 413 and "1 MiB" in r.json()["error"]
    assert rows(engine) == (0, 0, 0)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_an_activity_sent_in_slow_pieces_is_read_whole(cx, chunked):
    raw = json.dumps(install_activity(cx)).encode()
    r = await post_in_pieces(cx.bot_url, raw, signed(cx), pieces=3, pause=0.3, chunked=chunked)
    assert r.status == 200, r.body
    assert {TEAM, SUPPORT} <= await stored_channels(cx)


@pytest.mark.parametrize("raw", [
    b"[" * 200_000,
    b'{"type": "message", "value": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001,
    b'{"type": "message", "value": ' + b"[" * 65 + b"]" * 65 + b"}",
], ids=["200000 brackets", "100000 objects deep", "65 deep"])
async def test_a_deeply_nested_body_is_400_never_a_500(cx, engine, caplog, raw):
    with caplog.at_level(logging.ERROR):
        async with aiohttp.ClientSession() as http:
            async with http.post(cx.bot_url, data=raw, headers=signed(cx)) as r:
                assert r.status == 400, await r.text()
                assert "nested more than 64 levels" in (await r.json())["error"]
    assert "RecursionError" not in caplog.text and not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert rows(engine) == (0, 0, 0)


header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("éß€\u200b"),
                      max_size=120)
jwt_like = st.lists(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=", max_size=60),
                    min_size=1, max_size=4).map(".".join)
authorizations = st.one_of(
    header_text, jwt_like.map("Bearer ".__add__), header_text.map("Bearer ".__add__),
    st.sampled_from(["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "bearer x.y.z", "Bearer a.b.c.d.e",
                     # a JWT header naming an unknown key and algorithm, then junk
                     "Bearer eyJhbGciOiJub25lIiwia2lkIjoibm9wZSJ9.eyJhdWQiOiJ4In0.",
                     "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln"]))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(authorization=st.none() | authorizations)
async def test_any_bad_authorization_header_is_401_with_a_reason_and_stores_nothing(cx, engine, authorization):
    headers = dict(JSON)
    if authorization is not None:
        headers["Authorization"] = authorization
    async with aiohttp.ClientSession() as http:
        async with http.post(cx.bot_url, data=json.dumps(install_activity(cx)).encode(), headers=headers) as r:
            status, doc = r.status, await r.json()
    assert status == 401, (status, doc)
    assert doc["error"].startswith("unauthorized: ") and len(doc["error"]) > len("unauthorized: ")
    assert rows(engine) == (0, 0, 0)


async def test_a_teams_message_is_stored_before_its_200_and_a_worker_process_answers_it(cx, engine):
    from aiohttp.test_utils import TestServer

    from bot.machinery import inbox
    from handlers.serve import build_services
    from handlers.server import build_web_app
    from handlers.teams.adapter import TeamsAuth

    chat = await cx.teams.install_personal(cx.bot_url, ALICE)
    before = len(cx.teams.activities(chat))
    # The server as `cxloop serve --workers 1` runs it: it stores and acknowledges, nothing more.
    web = build_services(engine, cx.ws, cx.settings, teams_auth=TeamsAuth(**cx.teams.bot_auth()), role="web")
    assert web.inbox_worker is None
    server = TestServer(build_web_app(web), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        status, _ = await cx.teams.message(str(server.make_url("/api/messages")), ALICE, "cx help", conversation=chat)
        stored = [(i.platform, i.kind, i.lane) for i in _items(engine) if i.status == "pending"]
    finally:
        await server.close()
    assert status == 200
    assert stored == [("teams", "message", f"teams:{ALICE}")], "stored when the 200 went out"
    assert len(cx.teams.activities(chat)) == before, "and not answered by the web process"

    worker = build_services(engine, cx.ws, cx.settings, teams_auth=TeamsAuth(**cx.teams.bot_auth()), role="worker")
    assert await worker.inbox_worker.drain() == 1
    assert "cx mine" in text_of(cx.teams.activities(chat)[-1]), "the worker answered `cx help` in Alice's chat"
    assert inbox.pending(engine) == 0


async def test_a_teams_activity_that_cannot_be_stored_is_not_acknowledged(cx, engine, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from bot.machinery import inbox

    def broken(*a, **k):  # type: ignore[no-untyped-def]
        raise OperationalError("INSERT INTO inbox", {}, Exception("disk I/O error"))

    monkeypatch.setattr(inbox, "put_many", broken)
    async with aiohttp.ClientSession() as http:
        async with http.post(cx.bot_url, data=json.dumps(install_activity(cx)).encode(), headers=signed(cx)) as r:
            assert r.status == 503, "the Bot Framework delivers it again later"
    assert rows(engine) == (0, 0, 0)


def _items(engine) -> list[InboxItem]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return list(s.execute(select(InboxItem).order_by(InboxItem.id)).scalars())
