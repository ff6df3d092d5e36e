"""Survey intake over HTTP: every answer code, idempotency, and nothing half-stored."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.config import Settings, load_workspace
from bot.machinery.runtime import Runtime
from bot.people.roster import sync_workspace
from handlers.body import MAX_BODY
from handlers.intake.signing import sign_delighted, sign_generic
from handlers.serve import build_services
from handlers.server import build_web_app
from storage.db import session_scope
from storage.models import Case, OutboxMessage, ProcessedEvent, SurveyResponse
from tests.conftest import TEST_NOW
from tests.raw_http import post_in_pieces
from tests.serve_process import ServeProcess

SECRET = "webhook-secret"
GOOD = {"id": "r-1042", "survey": "nps", "score": 3, "comment": "Waited 40 minutes on hold.",
        "customer": {"id": "c-77", "name": "Dana Reyes", "email": "dana@example.com"},
        "touchpoint": "phone", "responded_at": "2026-11-20T10:15:00Z"}


def counts(engine) -> tuple[int, int, int, int]:
    """Responses, cases, queued channel posts, processed events."""
    with engine.connect() as c:
        one = lambda q: c.execute(q).scalar_one()  # noqa: E731
        return (one(select(func.count()).select_from(SurveyResponse)), one(select(func.count()).select_from(Case)),
                one(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.action == "post")),
                one(select(func.count()).select_from(ProcessedEvent)))


def serving(engine, settings_: Settings) -> TestClient:
    """A test client of cxloop's web app on `engine` with `settings_`."""
    ws = load_workspace()
    with session_scope(engine) as s:
        sync_workspace(s, ws)
    services = build_services(engine, ws, settings_, runtime=Runtime(engine=engine, workspace=ws, settings=settings_))
    return TestClient(TestServer(build_web_app(services), host="127.0.0.1", port=0))


@pytest.fixture
async def client(engine):
    async with serving(engine, Settings(cxloop_webhook_secret=SECRET)) as c:
        yield c


async def post(client, body: bytes | dict, *, sign: bool = True, source: str = "generic", headers=None):
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    h = {"Content-Type": "application/json", **(headers or {})}
    if sign:
        h["X-Cxloop-Signature"] = sign_generic(raw, SECRET)
    return await client.post(f"/webhooks/{source}", data=raw, headers=h)


async def test_stored_then_repeat(client, engine):
    r = await post(client, GOOD)
    assert r.status == 202
    first = await r.json()
    assert first["response_id"] == 1 and first["case_id"] == 1 and first["status"] == "stored"
    r = await post(client, GOOD)
    assert r.status == 200
    assert (await r.json()) == {**first, "status": "duplicate"}
    assert counts(engine)[:3] == (1, 1, 1)  # one response, one case, one queued alert


async def test_promoter_is_stored_without_a_case(client, engine):
    r = await post(client, {**GOOD, "id": "r-2", "score": 10})
    assert r.status == 202 and (await r.json())["case_id"] is None
    assert counts(engine)[:2] == (1, 0)


@pytest.mark.parametrize("sign,header,status", [
    (False, None, 401),
    (False, {"X-Cxloop-Signature": "sha256=" + "00" * 32}, 401),
    (False, {"X-Cxloop-Signature": "not-a-signature"}, 401),
])
async def test_bad_or_missing_signature_is_401_and_stores_nothing(client, engine, sign, header, status):
    r = await post(client, GOOD, sign=sign, headers=header)
    assert r.status == status
    assert "signature" in (await r.json())["error"].lower() or "X-Cxloop-Signature" in (await r.json())["error"]
    assert counts(engine) == (0, 0, 0, 0)


@pytest.mark.parametrize("source, variable", [("delighted", "CXLOOP_DELIGHTED_SECRET"),
                                              ("typeform", "CXLOOP_TYPEFORM_SECRET"),
                                              ("formbricks", "CXLOOP_FORMBRICKS_SECRET")])
async def test_a_source_without_its_secret_answers_401_naming_the_setting(client, engine, source, variable):
    r = await post(client, GOOD, source=source)
    assert r.status == 401
    assert f"{variable} is not set" in (await r.json())["error"]
    assert counts(engine) == (0, 0, 0, 0)


def delighted(event_type: str, comment: str) -> bytes:
    return json.dumps({"event_type": event_type, "event_id": f"evt-{event_type}-{len(comment)}",
                       "event_data": {"id": "5435", "survey_type": "nps", "score": 2, "comment": comment,
                                      "created_at": 1795169100,
                                      "person": {"id": "5975", "email": "charlie@example.com", "name": "Charlie"}}}
                      ).encode()


def stored_comment(engine) -> str | None:
    with engine.connect() as c:
        return c.execute(select(SurveyResponse.comment)).scalar_one()


async def test_an_unsigned_delighted_update_cannot_rewrite_a_stored_comment(engine):
    # Unsigned webhooks allowed (as in the demo), and Delighted has no secret: its answers come in.
    async with serving(engine, Settings(cxloop_allow_unsigned_webhooks=True)) as c:
        r = await c.post("/webhooks/delighted", data=delighted("survey_response.created", "Slow refund."))
        assert r.status == 202
        # Response ids are sequential: a stranger guesses one and sends an "update".
        r = await c.post("/webhooks/delighted", data=delighted("survey_response.updated", "All is well, close it."))
        assert r.status == 401 and "CXLOOP_DELIGHTED_SECRET" in (await r.json())["error"]
    assert stored_comment(engine) == "Slow refund."
    # Signed by Delighted, the same update is taken.
    async with serving(engine, Settings(cxloop_delighted_secret="api-key")) as c:
        body = delighted("survey_response.updated", "Slow refund, and nobody wrote back.")
        r = await c.post("/webhooks/delighted", data=body,
                         headers={"X-Delighted-Webhook-Signature": sign_delighted(body, "api-key")})
        assert r.status == 200, await r.text()
    assert stored_comment(engine) == "Slow refund, and nobody wrote back."


async def test_signature_over_a_different_body_is_refused(client, engine):
    raw = json.dumps(GOOD).encode()
    r = await client.post("/webhooks/generic", data=raw.replace(b"3", b"9", 1),
                          headers={"X-Cxloop-Signature": sign_generic(raw, SECRET)})
    assert r.status == 401 and counts(engine) == (0, 0, 0, 0)


@pytest.mark.parametrize("raw", [b"", b"{not json", b"\xff\xfe\x00", b"[1,2,3]", b'"just a string"'])
async def test_unreadable_body_is_400(client, engine, raw):
    r = await post(client, raw)
    assert r.status == 400
    assert (await r.json())["error"]
    assert counts(engine) == (0, 0, 0, 0)


async def test_over_one_mebibyte_is_413(client, engine):
    body = {**GOOD, "comment": "x" * (1024 * 1024)}
    r = await post(client, body)
    assert r.status == 413
    assert "1 MiB" in (await r.json())["error"]
    assert counts(engine) == (0, 0, 0, 0)


def padded(size: int) -> bytes:
    """A good generic body of exactly `size` bytes (the padding is kept in the stored raw payload)."""
    doc = {**GOOD, "id": f"r-{size}", "padding": ""}
    doc["padding"] = "x" * (size - len(json.dumps(doc).encode()))
    raw = json.dumps(doc).encode()
    assert len(raw) == size
    return raw


def stored_raw_size(engine) -> int:
    with engine.connect() as c:
        return len(c.execute(select(SurveyResponse.raw)).scalar_one()["padding"])


@pytest.mark.parametrize("size", [500_000, 900_000, MAX_BODY])
async def test_signed_bodies_up_to_the_cap_are_read_whole_and_stored(client, engine, size):
    raw = padded(size)
    r = await post(client, raw)
    assert r.status == 202, await r.text()
    assert stored_raw_size(engine) == len(json.loads(raw)["padding"])


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_one_byte_over_the_cap_is_413_however_it_is_sent(client, engine, chunked):
    raw = padded(MAX_BODY + 1)
    r = await post_in_pieces(str(client.make_url("/webhooks/generic")), raw, {
        "Content-Type": "application/json", "X-Cxloop-Signature": sign_generic(raw, SECRET)}, pause=0.01,
        chunked=chunked)
    assert r.status == 413 and "1 MiB" in r.json()["error"]
    assert counts(engine) == (0, 0, 0, 0)


@pytest.mark.parametrize("size, pieces, chunked", [(584, 2, False), (584, 2, True), (300_000, 5, False)])
async def test_a_body_sent_in_slow_pieces_is_read_whole(client, engine, size, pieces, chunked):
    raw = padded(size)
    r = await post_in_pieces(str(client.make_url("/webhooks/generic")), raw, {
        "Content-Type": "application/json", "X-Cxloop-Signature": sign_generic(raw, SECRET)}, pieces=pieces,
        pause=0.3, chunked=chunked)
    assert r.status == 202, r.body
    assert stored_raw_size(engine) == len(json.loads(raw)["padding"])


async def test_invalid_fields_are_422_naming_each(client, engine):
    bad = {**GOOD, "score": 11, "survey": "nps", "customer": {"email": "not-an-email"}, "responded_at": "yesterday"}
    del bad["id"]
    r = await post(client, bad)
    assert r.status == 422
    fields = {p["field"] for p in (await r.json())["problems"]}
    assert {"id", "customer.email", "responded_at"} <= fields
    assert counts(engine) == (0, 0, 0, 0)


async def test_score_out_of_range_names_score(client, engine):
    r = await post(client, {**GOOD, "survey": "csat", "score": 9})
    assert r.status == 422
    problems = (await r.json())["problems"]
    assert problems[0]["field"] == "score" and "1-5" in problems[0]["problem"]


async def test_unknown_source_is_404(client):
    r = await post(client, GOOD, source="surveymonkey")
    assert r.status == 404 and "generic" in (await r.json())["error"]


async def test_health_reports_the_database(client):
    r = await client.get("/healthz")
    assert r.status == 200 and (await r.json()) == {"status": "ok", "database": "reachable"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=20)
field_values = {
    "id": st.one_of(st.text(max_size=250), st.integers(), st.none(), json_values),
    "survey": st.one_of(st.sampled_from(["nps", "csat", "ces", "NPS", "xyz", ""]), json_values),
    "score": st.one_of(st.integers(-3, 14), st.floats(allow_nan=True), st.text(max_size=4), st.booleans(), st.none()),
    "comment": st.one_of(st.text(max_size=200), st.none(), json_values),
    "customer": st.one_of(st.fixed_dictionaries({}, optional={"id": json_values, "name": json_values,
                                                             "email": st.one_of(st.emails(), st.text(max_size=20))}),
                          json_values),
    "touchpoint": st.one_of(st.sampled_from(["phone", "refund", "web", ""]), json_values),
    "responded_at": st.one_of(st.sampled_from(["2026-11-20T10:15:00Z", "2026-02-30", "now", "", "1999-12-31",
                                               "2026-11-26T14:00:00Z", "2026-11-26T14:00:01Z"]),
                              st.integers(-10**12, 10**12), st.integers(946684790, 946684810),
                              st.integers(1795701590, 1795701610), json_values),
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.fixed_dictionaries({}, optional=field_values))
async def test_fuzzed_bodies_never_500_and_never_half_store(client, engine, body):
    before = counts(engine)
    r = await post(client, body)
    assert r.status in (200, 202, 400, 422), await r.text()
    after = counts(engine)
    if r.status in (400, 422):
        assert after == before
    elif r.status == 202:
        doc = await r.json()
        assert after[0] == before[0] + 1
        assert after[1] == before[1] + (1 if doc["case_id"] else 0)
        # Whatever was stored is plausible: text fields came as text, the answer time is inside the window.
        customer = body.get("customer") if isinstance(body.get("customer"), dict) else {}
        for v in (body.get("survey"), body.get("touchpoint"), body.get("comment"), *customer.values()):
            assert v is None or isinstance(v, str), body
        with session_scope(engine) as s:
            when = s.get(SurveyResponse, doc["response_id"]).responded_at
        assert datetime(2000, 1, 1, tzinfo=timezone.utc) <= when <= TEST_NOW + timedelta(days=1)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300))
async def test_fuzzed_bytes_never_500(client, engine, raw):
    r = await post(client, raw)
    assert r.status in (400, 422)
    assert counts(engine) == (0, 0, 0, 0)


async def test_serve_says_at_start_which_sources_are_refused_and_warns_loudly_about_unsigned_ones(db_url):
    env = {"DATABASE_URL": db_url, "CXLOOP_WEBHOOK_SECRET": SECRET}
    async with ServeProcess("--workers", "0", env=env) as safe:
        pass
    assert "webhooks: generic signed, delighted refused (no CXLOOP_DELIGHTED_SECRET)" in safe.out
    assert "UNSIGNED" not in safe.out + safe.err
    async with ServeProcess("--workers", "0", env={**env, "CXLOOP_ALLOW_UNSIGNED_WEBHOOKS": "1"}) as unsafe:
        async with aiohttp.ClientSession() as http:
            async with http.post(unsafe.url + "/webhooks/typeform", data=b"{}") as r:
                assert r.status == 422, "an unsigned Typeform delivery is read (and this one is incomplete)"
    assert "webhooks: generic signed, delighted UNSIGNED, typeform UNSIGNED, formbricks UNSIGNED" in unsafe.out
    assert "CXLOOP_ALLOW_UNSIGNED_WEBHOOKS=1: UNSIGNED webhooks are accepted on " \
           "/webhooks/delighted|typeform|formbricks" in unsafe.err


# ---------------------------------------------------------------------------------------------
# Every signature header of every source, malformed any way: 401 with a reason, nothing stored.

ALL_SECRETS = Settings(cxloop_webhook_secret=SECRET, cxloop_delighted_secret="delighted-key",
                       cxloop_typeform_secret="typeform-secret",
                       cxloop_formbricks_secret="whsec_" + base64.b64encode(b"k" * 32).decode())


@pytest.fixture
async def signed_client(engine):
    async with serving(engine, ALL_SECRETS) as c:
        yield c


header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("éß€\u200b"),
                      max_size=100)
hex64 = st.text("0123456789abcdefABCDEF", min_size=64, max_size=64)
b64 = st.binary(min_size=0, max_size=40).map(lambda b: base64.b64encode(b).decode())
maybe = st.none().__or__
SIGNATURE_HEADERS = {
    "generic": st.fixed_dictionaries({"X-Cxloop-Signature": maybe(header_text | hex64 | hex64.map("sha256=".__add__)
                                                                  | header_text.map("sha256=".__add__))}),
    "delighted": st.fixed_dictionaries({"X-Delighted-Webhook-Signature": maybe(
        header_text | hex64 | hex64.map("sha256=".__add__) | header_text.map("sha256=".__add__))}),
    "typeform": st.fixed_dictionaries({"Typeform-Signature": maybe(header_text | b64.map("sha256=".__add__)
                                                                   | header_text.map("sha256=".__add__))}),
    "formbricks": st.fixed_dictionaries({
        "webhook-id": maybe(header_text | st.just("msg_1")),
        "webhook-timestamp": maybe(header_text | st.integers(-10**13, 10**13).map(str)
                                   | st.just(str(int(TEST_NOW.timestamp())))),
        "webhook-signature": maybe(header_text | b64.map("v1,".__add__)
                                   | st.lists(b64.map("v1,".__add__), max_size=4).map(" ".join)),
    }),
}


@pytest.mark.parametrize("source", list(SIGNATURE_HEADERS))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_any_malformed_signature_header_is_401_with_a_reason_and_stores_nothing(signed_client, engine, source,
                                                                                     data):
    headers = {k: v for k, v in data.draw(SIGNATURE_HEADERS[source]).items() if v is not None}
    r = await signed_client.post(f"/webhooks/{source}", data=json.dumps(GOOD).encode(),
                                 headers={"Content-Type": "application/json", **headers})
    assert r.status == 401, (r.status, await r.text())
    assert (await r.json())["error"].startswith("bad or missing signature: ")
    assert counts(engine) == (0, 0, 0, 0)
