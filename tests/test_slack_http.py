"""POST /slack/events at the door: whole bodies up to 1 MiB, the signature before any parsing, 401 never 500."""

from __future__ import annotations

import json
import logging
import time

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import Session

from bot.intake.store import record_response
from bot.intake.surveys import build_response
from handlers.body import MAX_BODY
from handlers.slack.verify import sign
from storage.models import Case, InboxItem
from tests.harness import SIGNING_SECRET, CxHarness
from tests.raw_http import post_in_pieces

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def detractor(ext: str = "r-1"):  # type: ignore[no-untyped-def]
    return build_response({"source": "generic", "external_id": ext, "survey": "nps", "score": 2,
                           "comment": "Nobody called me back.", "touchpoint": "phone",
                           "responded_at": "2026-11-20T10:00:00Z"})


def stored(engine) -> list[InboxItem]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return list(s.execute(select(InboxItem).order_by(InboxItem.id)).scalars())


def owner_id(engine, case_id: int = 1) -> int | None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        case = s.get(Case, case_id)
        return case.owner_id if case else None


def home_opened(cx: CxHarness, size: int) -> bytes:
    """A signed-able app_home_opened event of exactly `size` bytes."""
    event = {"type": "app_home_opened", "user": "U0BOB", "channel": "D0BOB", "tab": "home", "padding": ""}
    raw = cx.sender.event_body(event)
    doc = json.loads(raw)
    doc["event"]["padding"] = "x" * (size - len(raw))
    raw = json.dumps(doc).encode()
    assert len(raw) == size
    return raw


@pytest.fixture
async def cx(engine):  # type: ignore[no-untyped-def]
    async with CxHarness(engine) as harness:
        yield harness


@pytest.mark.parametrize("size", [500_000, 900_000])
async def test_signed_events_of_500_and_900_kb_are_taken_whole(cx, engine, size):
    raw = home_opened(cx, size)
    reply = await cx.sender.post(raw, JSON)
    await cx.rt.wait_idle()
    assert reply.status == 200, reply.text
    [item] = stored(engine)
    assert len(json.loads(item.body)["event"]["padding"]) == len(json.loads(raw)["event"]["padding"])
    assert item.status == "done", "the worker read the whole event too"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_slack_body_over_one_mebibyte_is_413_and_stores_nothing(cx, engine, chunked):
    raw = home_opened(cx, MAX_BODY + 1)
    r = await post_in_pieces(cx.sender.url, raw, cx.sender.headers(raw, JSON), pause=0.01, chunked=chunked)
    assert r.status == 413 and "1 MiB" in r.json()["error"]
    assert stored(engine) == []


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_click_sent_in_slow_pieces_is_read_whole(cx, engine, chunked):
    record_response(engine, cx.ws, detractor())
    await cx.deliver()
    raw = cx.sender.click_body("U0BOB", cx.alert(1), "case_take", channel="C0SUPPORT")
    r = await post_in_pieces(cx.sender.url, raw, cx.sender.headers(raw, FORM), pieces=3, pause=0.3, chunked=chunked)
    await cx.rt.wait_idle()
    assert r.status == 200, r.body
    assert owner_id(engine) is not None, "the click was handled: Bob owns the case"


@pytest.mark.parametrize("content_type", [JSON, FORM])
async def test_an_unsigned_body_of_200000_brackets_is_refused_401_before_anything_parses_it(cx, engine, caplog,
                                                                                           content_type):
    raw = b"[" * 200_000 if content_type == JSON else b"payload=" + b"[" * 200_000
    with caplog.at_level(logging.ERROR):
        reply = await cx.sender.post(raw, content_type, signature="v0=" + "0" * 64)
    assert reply.status == 401
    assert "X-Slack-Signature does not match" in reply.json()["error"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "nothing was logged as an error"
    assert stored(engine) == []


@pytest.mark.parametrize("raw, content_type, why", [
    (b"[" * 200_000, JSON, "nested more than 64 levels"),
    (b"payload=" + b"%5B" * 200_000, FORM, "nested more than 64 levels"),
    (b"payload=%7Bnot+json", FORM, "not valid JSON"),
    (b"{\"type\": \"event_callback\", ", JSON, "not valid JSON"),
    (b"\xff\xfe{}", JSON, "not UTF-8"),
    (b"", FORM, "empty"),
    (b"payload=%5B1%2C2%5D", FORM, "JSON object"),
])
async def test_a_signed_body_that_cannot_be_parsed_is_400_naming_why(cx, engine, raw, content_type, why):
    reply = await cx.sender.post(raw, content_type)
    assert reply.status == 400, reply.text
    assert why in reply.json()["error"]
    assert stored(engine) == []


@pytest.mark.parametrize("timestamp, why", [
    ("", "missing X-Slack-Request-Timestamp"), ("abc", "whole seconds"), ("1.5e9", "whole seconds"),
    ("1e3", "whole seconds"), ("-1", "whole seconds"), ("0x6a3f", "whole seconds"), ("９９", "whole seconds"),
    ("9" * 40, "whole seconds"), ("0", "more than 5 minutes"), (str(int(time.time()) - 301), "more than 5 minutes"),
    (str(int(time.time()) + 3600), "more than 5 minutes")])
async def test_a_malformed_or_stale_timestamp_is_401_with_the_reason(cx, engine, timestamp, why):
    raw = cx.sender.command_body("U0MANAGER", "help")
    reply = await cx.sender.post(raw, FORM, signature=sign(raw, SIGNING_SECRET, 0)["X-Slack-Signature"],
                                 timestamp=timestamp)  # type: ignore[arg-type]
    assert reply.status == 401 and why in reply.json()["error"], reply.text
    assert stored(engine) == []


# Header values as a client can send them: printable ASCII, some non-ASCII, blanks.
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("éß€\u200b\u00a0"),
                      max_size=80)
timestamps = st.one_of(header_text, st.integers(-10**15, 10**15).map(str), st.floats().map(str),
                       st.sampled_from(["", " ", "abc", "1.5e9", "１２３", "0" * 13, str(int(time.time())) + ".0"]))
signatures = st.one_of(header_text, st.text("0123456789abcdefABCDEF", min_size=64, max_size=64).map("v0=".__add__),
                       st.sampled_from(["", "v0=", "v1=" + "a" * 64, "v0=" + "é" * 64, "sha256=" + "0" * 64]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ts=st.none() | st.just("now") | timestamps, sig=st.none() | st.just("good") | signatures,
       kind=st.sampled_from(["command", "click", "event"]))
async def test_any_malformed_slack_auth_header_is_401_with_a_reason_and_stores_nothing(cx, engine, ts, sig, kind):
    assume(not (ts == "now" and sig == "good"))
    raw = {"command": lambda: cx.sender.command_body("U0MANAGER", "help"),
           "click": lambda: cx.sender.click_body("U0BOB", {"ts": "1.1", "blocks": [
               {"type": "actions", "block_id": "b", "elements": [
                   {"type": "button", "action_id": "case_take", "value": "1", "text": {"type": "plain_text",
                                                                                       "text": "Take it"}}]}]},
               "case_take", channel="C0SUPPORT"),
           "event": lambda: cx.sender.event_body({"type": "app_home_opened", "user": "U0BOB", "tab": "home"})}[kind]()
    now = str(int(time.time()))
    headers = {"Content-Type": JSON if kind == "event" else FORM}
    if ts is not None:
        headers["X-Slack-Request-Timestamp"] = now if ts == "now" else ts
    if sig is not None:
        headers["X-Slack-Signature"] = sign(raw, SIGNING_SECRET, int(now))["X-Slack-Signature"] if sig == "good" else sig
    assert cx.sender._session is not None
    async with cx.sender._session.post(cx.sender.url, data=raw, headers=headers) as r:
        status, text = r.status, await r.text()
    assert status == 401, (status, text)
    assert json.loads(text)["error"].startswith("not signed by Slack: ")
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(InboxItem)).scalar_one() == 0


# Slack's form bodies are read by handlers/slack/verify.form_fields (a fast path for the common case);
# whatever the bytes, it must read exactly what the standard library's parse_qsl reads.
_form_bytes = st.lists(st.sampled_from([b"a", b"=", b"&", b"+", b"%", b"%4", b"%41", b"%e2%82%ac", b"%ZZ", b"%ff",
                                        b"\\", b"\\x41", "é".encode(), b"\xff", b"payload", b"%7B%22x%22%3A1%7D"]),
                       max_size=30).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(raw=_form_bytes | st.binary(max_size=60))
def test_form_fields_read_any_body_as_parse_qsl_does(raw):
    from urllib.parse import parse_qsl

    from handlers.slack.verify import form_fields

    text = raw.decode("utf-8", "replace")
    assert form_fields(raw, text) == dict(parse_qsl(text, keep_blank_values=True))


@settings(max_examples=200, deadline=None)
@given(pairs=st.lists(st.tuples(st.text(max_size=20), st.text(max_size=60)), max_size=6))
def test_form_fields_read_what_a_form_encoder_wrote(pairs):
    from urllib.parse import urlencode

    from handlers.slack.verify import form_fields

    raw = urlencode(pairs).encode()
    assert form_fields(raw, raw.decode()) == dict(pairs)
