"""Plausible data only: every webhook source over HTTP refuses impossible answer times and non-text names,
touchpoints and ids with a 422 naming the field, and stores nothing; the CSV import rejects the same times
by line."""

from __future__ import annotations

import copy
import csv
import io
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.config import Settings
from bot.intake.csv_import import import_csv
from bot.intake.csv_rows import FIELDS
from bot.machinery.runtime import Runtime
from bot.people.roster import sync_workspace
from handlers import cli_import
from handlers.intake import PARSERS, InvalidFields, signing
from handlers.serve import build_services
from handlers.server import build_web_app
from storage.db import session_scope
from storage.models import Case, OutboxMessage, ProcessedEvent, SurveyResponse
from tests.conftest import TEST_NOW
from tests.test_csv_import import _args
from tests.test_intake_sources import (
    DELIGHTED_SECRET,
    FORMBRICKS_SECRET,
    GENERIC,
    GENERIC_SECRET,
    TYPEFORM_SECRET,
    WS,
    delighted_event,
    formbricks_event,
    typeform_event,
)

UTC = timezone.utc
LATEST = TEST_NOW + timedelta(days=1)  # 2026-11-26T14:00:00Z: the latest answer time accepted at TEST_NOW
RANGE = "2000-01-01T00:00:00Z to 2026-11-26T14:00:00Z (one day after now)"
UNIX_RANGE = "946684800 (2000-01-01T00:00:00Z) to 1795701600 (2026-11-26T14:00:00Z, one day after now)"

SETTINGS = Settings(cxloop_webhook_secret=GENERIC_SECRET, cxloop_delighted_secret=DELIGHTED_SECRET,
                    cxloop_typeform_secret=TYPEFORM_SECRET, cxloop_formbricks_secret=FORMBRICKS_SECRET)


def _sign(source: str, body: bytes) -> dict[str, str]:
    if source == "generic":
        return {"X-Cxloop-Signature": signing.sign_generic(body, GENERIC_SECRET)}
    if source == "delighted":
        return {"X-Delighted-Webhook-Signature": signing.sign_delighted(body, DELIGHTED_SECRET)}
    if source == "typeform":
        return {"Typeform-Signature": signing.sign_typeform(body, TYPEFORM_SECRET)}
    return signing.standard_webhook_headers(body, FORMBRICKS_SECRET, f"msg-{abs(hash(body))}", TEST_NOW)


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


# Each source's real payload, where it carries the answer time, and where (payload path -> the field
# the 422 names) it carries each text field.
PAYLOADS: dict[str, dict[str, Any]] = {
    "generic": GENERIC,
    "delighted": delighted_event(comment="Late again."),
    "typeform": typeform_event(),
    "formbricks": formbricks_event(),
}
TIME_AT: dict[str, tuple[tuple[Any, ...], str]] = {
    "generic": (("responded_at",), "responded_at"),
    "delighted": (("event_data", "created_at"), "event_data.created_at"),
    "typeform": (("form_response", "submitted_at"), "form_response.submitted_at"),
    "formbricks": (("data", "createdAt"), "data.createdAt"),
}
TEXT_AT: dict[str, dict[tuple[Any, ...], str]] = {
    "generic": {
        ("touchpoint",): "touchpoint",
        ("survey",): "survey",
        ("comment",): "comment",
        ("customer", "id"): "customer.id",
        ("customer", "name"): "customer.name",
        ("customer", "email"): "customer.email",
    },
    "delighted": {
        ("event_data", "comment"): "event_data.comment",
        ("event_data", "person", "id"): "event_data.person.id",
        ("event_data", "person", "name"): "event_data.person.name",
        ("event_data", "person", "email"): "event_data.person.email",
        ("event_data", "survey_type"): "event_data.survey_type",
        ("event_data", "person_properties"): None,  # set below: {"Touchpoint": value}
    },
    "typeform": {
        ("form_response", "hidden", "touchpoint"): "form_response.hidden.touchpoint",
        ("form_response", "hidden", "user_id"): "form_response.hidden.user_id",
        ("form_response", "answers", 1, "text"): "form_response.answers[field=what_happened]",
        ("form_response", "answers", 2, "email"): "form_response.answers[field=readable_ref_email]",
        ("form_response", "answers", 3, "text"): "form_response.answers[field=readable_ref_short_text]",
    },
    "formbricks": {
        ("data", "data", "touchpoint"): "data.data.touchpoint",
        ("data", "data", "why_q"): "data.data.why_q",
        ("data", "contact", "userId"): "data.contact.userId",
        ("data", "contactAttributes", "email"): "data.contactAttributes.email",
        ("data", "contactAttributes", "firstName"): "data.contactAttributes.firstName",
        ("data", "contactAttributes", "lastName"): "data.contactAttributes.lastName",
    },
}

NOT_TEXT = {"-1": -1, "1e308": 1e308, "true": True, "a list": ["phone"], "an object": {"name": "phone"}}


def _text_cases() -> list[Any]:
    out = []
    for source, paths in TEXT_AT.items():
        for path, field in paths.items():
            for label, value in NOT_TEXT.items():
                if source == "delighted" and path == ("event_data", "person_properties"):
                    out.append(pytest.param(source, path, {"Touchpoint": value},
                                            "event_data.person_properties.Touchpoint",
                                            id=f"{source}-person_properties.Touchpoint-{label}"))
                else:
                    out.append(pytest.param(source, path, value, field, id=f"{source}-{field}-{label}"))
    return out


def counts(engine) -> tuple[int, int, int, int]:
    """Responses, cases, outbox rows, processed events."""
    with engine.connect() as c:
        return tuple(c.execute(select(func.count()).select_from(m)).scalar_one()  # type: ignore[return-value]
                     for m in (SurveyResponse, Case, OutboxMessage, ProcessedEvent))


@pytest.fixture
async def client(engine):
    with session_scope(engine) as s:
        sync_workspace(s, WS)
    services = build_services(engine, WS, SETTINGS, runtime=Runtime(engine=engine, workspace=WS, settings=SETTINGS))
    async with TestClient(TestServer(build_web_app(services), host="127.0.0.1", port=0)) as c:
        yield c


async def post(client, source: str, payload: Any) -> tuple[int, dict[str, Any]]:
    body = json.dumps(payload).encode()
    r = await client.post(f"/webhooks/{source}", data=body,
                          headers={"Content-Type": "application/json", **_sign(source, body)})
    return r.status, await r.json()


def problem_for(doc: dict[str, Any], field: str) -> str:
    found = [p["problem"] for p in doc.get("problems", []) if p["field"] == field]
    assert found, f"no problem names {field}: {doc}"
    return found[0]


@pytest.mark.parametrize("source", list(PAYLOADS))
async def test_each_sources_real_payload_is_stored(client, engine, source):
    """The baseline the refusals below are measured against: the unmodified payload is accepted."""
    status, doc = await post(client, source, PAYLOADS[source])
    assert status == 202, doc
    assert counts(engine)[0] == 1


BAD_TIMES: dict[str, tuple[Any, str]] = {
    # name: (value, words the problem must contain besides the range)
    "minus one second": (-1, "-1 is outside the accepted range of Unix seconds"),
    "zero": (0, "0 is outside the accepted range of Unix seconds"),
    "a second before 2000": (946684799, "946684799 is outside"),
    "a second past a day ahead": (int(LATEST.timestamp()) + 1, "is outside"),
    "milliseconds": (int(TEST_NOW.timestamp()) * 1000, "looks like Unix milliseconds"),
    "1e308": (1e308, "is outside"),
    "ISO 1969": ("1969-12-31T23:59:59Z", "1969-12-31T23:59:59Z is outside the accepted range"),
    "ISO 1999": ("1999-12-31T23:59:59+00:00", "1999-12-31T23:59:59Z is outside"),
    "ISO next week": ("2026-12-02T09:00:00Z", "2026-12-02T09:00:00Z is outside"),
    "ISO year 9999": ("9999-12-31T23:59:59-05:00", "is outside"),
}


@pytest.mark.parametrize("source", list(PAYLOADS))
@pytest.mark.parametrize("name", list(BAD_TIMES))
async def test_an_implausible_answer_time_is_422_naming_the_field_and_range_and_nothing_is_stored(
        client, engine, source, name):
    value, words = BAD_TIMES[name]
    path, field = TIME_AT[source]
    status, doc = await post(client, source, _set(PAYLOADS[source], path, value))
    assert status == 422, doc
    problem = problem_for(doc, field)
    assert words in problem
    assert (UNIX_RANGE if isinstance(value, (int, float)) else RANGE) in problem, problem
    assert counts(engine) == (0, 0, 0, 0)


@pytest.mark.parametrize("source", list(PAYLOADS))
@pytest.mark.parametrize("value", ["2000-01-01T00:00:00Z", 946684800, "2026-11-26T14:00:00Z", 1795701600,
                                   1795701600.0])
async def test_the_edges_of_the_accepted_range_are_stored(client, engine, source, value):
    path, _ = TIME_AT[source]
    status, doc = await post(client, source, _set(PAYLOADS[source], path, value))
    assert status == 202, doc
    with session_scope(engine) as s:
        stored = s.scalars(select(SurveyResponse.responded_at)).one()
    assert stored in (datetime(2000, 1, 1, tzinfo=UTC), LATEST)


@pytest.mark.parametrize("source, path, value, field", _text_cases())
async def test_a_name_touchpoint_id_email_or_survey_that_is_not_text_is_422_and_nothing_is_stored(
        client, engine, source, path, value, field):
    status, doc = await post(client, source, _set(PAYLOADS[source], path, value))
    assert status == 422, doc
    problem = problem_for(doc, field)
    assert "text" in problem or "not supported" in problem, problem  # Delighted's survey_type has its own words
    assert counts(engine) == (0, 0, 0, 0)


async def test_a_touchpoint_of_minus_one_is_never_stored_as_the_string(client, engine):
    status, doc = await post(client, "generic", {**GENERIC, "touchpoint": -1})
    assert status == 422
    assert doc["problems"] == [{"field": "touchpoint", "problem": "must be text (a JSON string), not a number"}]
    status, _ = await post(client, "generic", {**GENERIC, "touchpoint": "-1"})  # as text it is a touchpoint
    assert status == 202
    with session_scope(engine) as s:
        assert s.scalars(select(SurveyResponse.touchpoint)).all() == ["-1"]


async def test_a_response_id_may_still_be_a_whole_number(client, engine):
    status, doc = await post(client, "generic", {**GENERIC, "id": 1042})
    assert status == 202, doc
    status, doc = await post(client, "generic", {**GENERIC, "id": 1042.5})
    assert status == 422 and problem_for(doc, "id") == "must be text or a whole number, not a number"


# --- properties, at the parsers (no HTTP, so many examples are cheap) ------------------------------

UNSIGNED = Settings(cxloop_webhook_secret=None, cxloop_delighted_secret=None, cxloop_typeform_secret=None,
                    cxloop_formbricks_secret=None, cxloop_allow_unsigned_webhooks=True)
EARLIEST_S, LATEST_S = 946684800, int(LATEST.timestamp())


def _parse(source: str, payload: Any) -> Any:
    return PARSERS[source](json.dumps(payload).encode(), {}, settings=UNSIGNED, workspace=WS, now=TEST_NOW)


def _refused_naming(source: str, payload: Any, field: str) -> str:
    with pytest.raises(InvalidFields) as exc:
        _parse(source, payload)
    found = [p.problem for p in exc.value.problems if p.field == field]
    assert found, exc.value.problems
    return found[0]


_word = st.text(alphabet="abc -1", max_size=5)
not_text = st.recursive(
    st.booleans() | st.integers(-(10**30), 10**30) | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner | _word, max_size=3) | st.dictionaries(_word, inner | _word, max_size=3),
    max_leaves=6)
text_places = st.sampled_from([(src, path) for src, paths in TEXT_AT.items() for path in paths])


@hsettings(max_examples=300, deadline=None)
@given(place=text_places, value=not_text)
def test_property_no_text_field_is_ever_stored_from_a_non_string(place, value):
    source, path = place
    field = TEXT_AT[source][path]
    if field is None:  # Delighted's person properties
        value, field = {"Touchpoint": value}, "event_data.person_properties.Touchpoint"
    _refused_naming(source, _set(PAYLOADS[source], path, value), field)


@hsettings(max_examples=300, deadline=None)
@given(source=st.sampled_from(list(PAYLOADS)), data=st.data())
def test_property_an_answer_time_is_accepted_exactly_inside_the_window(source, data):
    path, field = TIME_AT[source]
    value = data.draw(st.one_of(
        st.integers(-(10**20), 10**20),
        st.integers(EARLIEST_S - 5, EARLIEST_S + 5), st.integers(LATEST_S - 5, LATEST_S + 5),
        st.floats(allow_nan=False, allow_infinity=False),
        st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))]))
        .map(lambda d: d.isoformat())), label="value")
    payload = _set(PAYLOADS[source], path, value)
    if isinstance(value, str):
        instant = datetime.fromisoformat(value)
        inside = datetime(2000, 1, 1, tzinfo=UTC) <= instant <= LATEST
    else:
        inside = EARLIEST_S <= value <= LATEST_S
    if inside:
        (r,) = _parse(source, payload).responses
        assert datetime(2000, 1, 1, tzinfo=UTC) <= r.responded_at <= LATEST
    else:
        problem = _refused_naming(source, payload, field)
        assert "2000-01-01T00:00:00Z" in problem and "2026-11-26T14:00:00Z" in problem, problem


def _csv(tmp_path, rows: list[list[str]]) -> Any:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FIELDS)
    w.writerows(rows)
    p = tmp_path / "answers.csv"
    p.write_text(buf.getvalue(), encoding="utf-8")
    return p


def _row(rid: str, responded_at: str, touchpoint: str = "phone") -> list[str]:
    return [rid, "nps", "9", "", "c-1", "Dana", "dana@example.com", touchpoint, responded_at]


def test_csv_rows_with_implausible_times_are_rejected_by_line_and_the_rest_stored(engine, tmp_path, capsys):
    path = _csv(tmp_path, [
        _row("r-1", "2000-01-01T00:00:00Z"),        # line 2: the earliest accepted
        _row("r-2", "1999-12-31T23:59:59Z"),        # 3
        _row("r-3", "1970-01-01"),                  # 4
        _row("r-4", "2026-11-26T14:00:00Z"),        # 5: the latest accepted, a day after TEST_NOW
        _row("r-5", "2026-11-26T14:00:01Z"),        # 6
        _row("r-6", "2126-11-25 14:00:00"),         # 7
        _row("r-7", "1795169700"),                  # 8: CSV cells are text; Unix numbers are not taken there
        _row("r-8", "2026-11-20T10:15:00Z", touchpoint="-1"),  # 9: "-1" is text in a CSV, and allowed
    ])
    assert cli_import.run(_args(str(path)), engine, WS) == 0
    out = capsys.readouterr().out
    for line, shown in ((3, "1999-12-31T23:59:59Z"), (4, "1970-01-01T00:00:00Z"), (6, "2026-11-26T14:00:01Z"),
                        (7, "2126-11-25T14:00:00Z")):
        assert f"line {line}: responded_at: {shown} is outside the accepted range, {RANGE}" in out, out
    assert "line 8: responded_at: is not an ISO-8601 date-time" in out
    assert out.strip().splitlines()[-1] == "imported 3, duplicate 0, rejected 5, cases opened 0"
    with session_scope(engine) as s:
        rows = s.execute(select(SurveyResponse.external_id, SurveyResponse.touchpoint)
                         .order_by(SurveyResponse.id)).all()
    assert [tuple(r) for r in rows] == [("r-1", "phone"), ("r-4", "phone"), ("r-8", "-1")]


def test_csv_import_bounds_times_by_its_own_now(engine, tmp_path):
    """`import_csv(now=...)` (the demo's clock) sets the window, not the wall clock."""
    path = _csv(tmp_path, [_row("r-1", "2030-01-01T00:00:00Z"), _row("r-2", "2030-01-02T12:00:01Z")])
    report = import_csv(engine, WS, path, now=datetime(2030, 1, 1, 12, tzinfo=UTC), open_cases="none")
    assert (report.imported, report.rejected) == (1, 1)
    assert report.errors[0].line == 3 and "to 2030-01-02T12:00:00Z (one day after now)" in report.errors[0].reason

