"""Survey intake parsers: each tool's real payload shape and signature scheme, and every refusal."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.config import Settings, parse_workspace
from bot.intake.surveys import ResponseIn, SurveyKind
from handlers.intake import (
    MAX_BODY,
    BadRequest,
    IntakeError,
    InvalidFields,
    Parsed,
    PayloadTooLarge,
    Unauthorized,
    UnknownSource,
    parse_delighted,
    parse_formbricks,
    parse_generic,
    parse_typeform,
    parse_webhook,
    signing,
)

UTC = timezone.utc
NOW = datetime(2026, 11, 20, 10, 20, tzinfo=UTC)

GENERIC_SECRET = "generic-secret-123"
DELIGHTED_SECRET = "d5f1a2b3c4-delighted-api-key"
TYPEFORM_SECRET = "0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e"
# A Standard Webhooks secret as Formbricks generates it: whsec_ + base64 of random bytes.
FORMBRICKS_SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()

SIGNED = Settings(cxloop_webhook_secret=GENERIC_SECRET, cxloop_delighted_secret=DELIGHTED_SECRET,
                  cxloop_typeform_secret=TYPEFORM_SECRET, cxloop_formbricks_secret=FORMBRICKS_SECRET)
NO_SECRETS = Settings(cxloop_webhook_secret=None, cxloop_delighted_secret=None,
                      cxloop_typeform_secret=None, cxloop_formbricks_secret=None)
# As the demo and a sandbox run: no secrets, unsigned deliveries allowed for local traffic.
UNSIGNED = NO_SECRETS.model_copy(update={"cxloop_allow_unsigned_webhooks": True})

WS = parse_workspace({
    "timezone": "Europe/London",
    "teams": [
        {"key": "support", "touchpoints": ["support", "phone", "email"]},
        {"key": "delivery", "touchpoints": ["delivery", "returns"]},
    ],
    "default_team": "support",
    "sources": {
        "delighted_touchpoint": "email",
        "typeform_forms": {
            "lT4Z3j": {"survey": "nps", "score_field": "nps_score", "comment_field": "what_happened",
                       "email_field": "readable_ref_email", "name_field": "readable_ref_short_text",
                       "customer_id_field": "user_id", "touchpoint_hidden": "touchpoint"},
            # Same tool, another form: the score is found by field id, and the touchpoint is fixed.
            "Cs4T01": {"survey": "csat", "score_field": "Qx7Rating01", "comment_field": "why",
                       "touchpoint": "delivery"},
        },
        "formbricks_surveys": {
            "cm3s5u7v9w0x1y2z3a4b5c6d": {"survey": "nps", "score_question": "nps_q",
                                         "comment_question": "why_q", "touchpoint_field": "touchpoint"},
            "cm9csat0000000000000000a": {"survey": "csat", "score_question": "rating_q",
                                         "touchpoint": "returns", "email_field": "email_q"},
        },
    },
})


def body_of(payload: Any) -> bytes:
    return json.dumps(payload, indent=2).encode("utf-8")


def call(parser, body: bytes, headers: dict[str, str] | None = None, *, settings: Settings = SIGNED,
         now: datetime = NOW) -> Parsed:
    return parser(body, headers or {}, settings=settings, workspace=WS, now=now)


def one(parsed: Parsed) -> ResponseIn:
    assert parsed.ignored is None, parsed.ignored
    assert len(parsed.responses) == 1
    return parsed.responses[0]


def fields_of(exc: pytest.ExceptionInfo[IntakeError]) -> set[str]:
    return {p.field for p in exc.value.problems}


# =============================================================================================
# generic — README's shape


GENERIC = {"id": "r-1042", "survey": "nps", "score": 3, "comment": "Waited 40 minutes on hold.",
           "customer": {"id": "c-77", "name": "Dana Reyes", "email": "dana@example.com"},
           "touchpoint": "phone", "responded_at": "2026-11-20T10:15:00Z"}


def generic_headers(body: bytes, secret: str = GENERIC_SECRET) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Cxloop-Signature": signing.sign_generic(body, secret)}


def test_generic_signed_payload_parses():
    body = body_of(GENERIC)
    r = one(call(parse_generic, body, generic_headers(body)))
    assert r == ResponseIn(source="generic", external_id="r-1042", survey=SurveyKind.NPS, score=3,
                           comment="Waited 40 minutes on hold.", customer_id="c-77", customer_name="Dana Reyes",
                           customer_email="dana@example.com", touchpoint="phone",
                           responded_at=datetime(2026, 11, 20, 10, 15, tzinfo=UTC), raw=GENERIC)


def test_generic_signature_is_hex_hmac_of_raw_body():
    body = body_of(GENERIC)
    expected = "sha256=" + hmac.new(GENERIC_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert signing.sign_generic(body, GENERIC_SECRET) == expected
    # header names are case-insensitive
    one(call(parse_generic, body, {"x-cxloop-signature": expected}))


@pytest.mark.parametrize("headers", [
    {},
    {"X-Cxloop-Signature": ""},
    {"X-Cxloop-Signature": "sha256=" + "0" * 64},
    {"X-Cxloop-Signature": "sha256=nothex"},
    {"X-Cxloop-Signature": "md5=abc"},
    {"X-Cxloop-Signature": "sha256=é" * 3},
])
def test_generic_bad_or_missing_signature_is_401(headers):
    with pytest.raises(Unauthorized) as exc:
        call(parse_generic, body_of(GENERIC), headers)
    assert exc.value.status == 401
    assert "signature" in exc.value.message


def test_generic_signature_over_other_bytes_is_401():
    body = body_of(GENERIC)
    headers = generic_headers(body)
    with pytest.raises(Unauthorized):
        call(parse_generic, json.dumps(GENERIC).encode(), headers)  # same JSON, different bytes
    with pytest.raises(Unauthorized):
        call(parse_generic, body, generic_headers(body, "another-secret"))


@pytest.mark.parametrize("parser, variable", [
    (parse_generic, "CXLOOP_WEBHOOK_SECRET"), (parse_delighted, "CXLOOP_DELIGHTED_SECRET"),
    (parse_typeform, "CXLOOP_TYPEFORM_SECRET"), (parse_formbricks, "CXLOOP_FORMBRICKS_SECRET")])
def test_a_source_without_its_secret_refuses_every_delivery_naming_the_setting(parser, variable):
    for settings in (NO_SECRETS, Settings(**{variable.lower(): "  "})):  # unset, or blank
        with pytest.raises(Unauthorized) as exc:
            call(parser, body_of(GENERIC), {"X-Cxloop-Signature": "garbage"}, settings=settings)
        assert exc.value.status == 401
        assert f"{variable} is not set" in exc.value.message and "CXLOOP_ALLOW_UNSIGNED_WEBHOOKS" in exc.value.message


def test_with_unsigned_webhooks_allowed_a_source_without_secret_checks_no_signature():
    r = one(call(parse_generic, body_of(GENERIC), {"X-Cxloop-Signature": "garbage"}, settings=UNSIGNED))
    assert r.external_id == "r-1042"
    with pytest.raises(Unauthorized):  # a source that has its secret still checks it
        call(parse_generic, body_of(GENERIC), {}, settings=UNSIGNED.model_copy(
            update={"cxloop_webhook_secret": GENERIC_SECRET}))


def test_an_unsigned_delighted_comment_update_is_refused_even_when_unsigned_webhooks_are_allowed():
    body = body_of(delighted_event("survey_response.updated", comment="Rewritten by a stranger."))
    with pytest.raises(Unauthorized) as exc:
        call(parse_delighted, body, settings=UNSIGNED)
    assert "survey_response.updated" in exc.value.message and "CXLOOP_DELIGHTED_SECRET" in exc.value.message
    assert one(call(parse_delighted, body, delighted_headers(body))).comment == "Rewritten by a stranger."


def test_signature_is_checked_before_the_body_is_read():
    with pytest.raises(Unauthorized):
        call(parse_generic, b"not json", {})


@pytest.mark.parametrize("body, words", [
    (b"not json at all", "not valid JSON"),
    (b"{\"id\": ", "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"", "empty"),
    (b"   ", "empty"),
    (b"[1, 2]", "JSON object"),
    (b"\"text\"", "JSON object"),
    (b"42", "JSON object"),
    (b"null", "JSON object"),
    (b"{\"score\": NaN}", "not valid JSON"),
    (b"{\"comment\": \"\\ud800\"}", "surrogate"),
    (b"{\"comment\": \"a\\u0000b\"}", "NUL"),
    (b"[" * 70 + b"]" * 70, "nested"),
    (b"[" * 5000 + b"]" * 5000, "nested"),
])
def test_generic_unreadable_body_is_400(body, words):
    with pytest.raises(BadRequest) as exc:
        call(parse_generic, body, settings=UNSIGNED)
    assert exc.value.status == 400
    assert words in exc.value.message


def test_over_max_body_is_413():
    assert MAX_BODY == 1024 * 1024
    big = body_of({**GENERIC, "comment": "x" * MAX_BODY})
    with pytest.raises(PayloadTooLarge) as exc:
        call(parse_generic, big, settings=UNSIGNED)
    assert exc.value.status == 413


def test_generic_invalid_fields_are_422_naming_each():
    bad = {"survey": "loyalty", "score": 3.5, "customer": {"id": "c-77", "email": "not-an-email"},
           "responded_at": "yesterday-ish", "touchpoint": "x" * 65}
    body = body_of(bad)
    with pytest.raises(InvalidFields) as exc:
        call(parse_generic, body, generic_headers(body))
    assert exc.value.status == 422
    assert fields_of(exc) == {"id", "survey", "score", "customer.email", "responded_at", "touchpoint"}
    out = exc.value.as_dict()
    assert {"field": "id", "problem": "is required"} in out["problems"]


def test_generic_score_out_of_range_names_score():
    body = body_of({**GENERIC, "survey": "csat", "score": 9})
    with pytest.raises(InvalidFields) as exc:
        call(parse_generic, body, generic_headers(body))
    assert [(p.field, p.problem) for p in exc.value.problems] == [("score", "score 9 is outside 1-5 for csat")]


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", 1e20, -1e20, 10**30])
def test_generic_out_of_range_instant_is_422_not_a_crash(when):
    with pytest.raises(InvalidFields) as exc:
        call(parse_generic, body_of({**GENERIC, "responded_at": when}), settings=UNSIGNED)
    assert fields_of(exc) == {"responded_at"}


def test_generic_customer_must_be_an_object():
    with pytest.raises(InvalidFields) as exc:
        call(parse_generic, body_of({**GENERIC, "customer": "Dana"}), settings=UNSIGNED)
    assert fields_of(exc) == {"customer"}


def test_generic_defaults_and_flat_customer_fields():
    payload = {"id": 77, "survey": "CES", "score": "4", "customer_email": "lee@example.com",
               "customer_name": "Lee", "extra": {"kept": True}}
    r = one(call(parse_generic, body_of(payload), settings=UNSIGNED))
    assert (r.external_id, r.survey, r.score, r.customer_email, r.customer_name) == \
        ("77", SurveyKind.CES, 4, "lee@example.com", "Lee")
    assert r.responded_at == NOW  # time of receipt when the sender gives none
    assert r.raw == payload
    with pytest.raises(InvalidFields) as exc:
        call(parse_generic, body_of({**payload, "customer_email": "nope"}), settings=UNSIGNED)
    assert fields_of(exc) == {"customer_email"}


def test_generic_unix_time_and_offsets():
    r = one(call(parse_generic, body_of({**GENERIC, "responded_at": 1795169700}), settings=UNSIGNED))
    assert r.responded_at == datetime.fromtimestamp(1795169700, tz=UTC)
    r = one(call(parse_generic, body_of({**GENERIC, "responded_at": "2026-11-20T11:15:00+01:00"}), settings=UNSIGNED))
    assert r.responded_at == datetime(2026, 11, 20, 10, 15, tzinfo=UTC)


# =============================================================================================
# Delighted — https://delighted.com/docs/api/webhooks


def delighted_event(event_type: str = "survey_response.created", **data: Any) -> dict[str, Any]:
    event_data = {
        "id": "5435",
        "person": {"id": "5975", "email": "charlie_gravis@example.com", "name": "Charlie Gravis",
                   "created_at": 1795169000},
        "survey_type": "nps",
        "score": 2,
        "comment": None,
        "permalink": "https://app.delighted.com/r/5pFDpmlyC8GUc5oxU6USto5VonSKAqOa",
        "created_at": 1795169100,
        "updated_at": None,
        "person_properties": None,
        "notes": [],
        "tags": [],
        "additional_answers": [],
    }
    event_data.update(data)
    return {"event_type": event_type,
            "event_id": hashlib.sha256(f"{event_type}{event_data['id']}".encode()).hexdigest(),
            "event_data": event_data}


def delighted_headers(body: bytes, secret: str = DELIGHTED_SECRET) -> dict[str, str]:
    return {"X-Delighted-Webhook-Signature": signing.sign_delighted(body, secret)}


def test_delighted_created_parses():
    event = delighted_event()
    body = body_of(event)
    parsed = call(parse_delighted, body, delighted_headers(body))
    r = one(parsed)
    assert parsed.source == "delighted" and parsed.event_type == "survey_response.created"
    assert parsed.event_id == event["event_id"]
    assert parsed.update_existing is False
    assert r == ResponseIn(source="delighted", external_id="5435", survey=SurveyKind.NPS, score=2, comment=None,
                           customer_id="5975", customer_name="Charlie Gravis",
                           customer_email="charlie_gravis@example.com", touchpoint="email",
                           responded_at=datetime.fromtimestamp(1795169100, tz=UTC), raw=event)


def test_delighted_updated_flags_a_comment_update_of_the_same_response():
    created = one(call(parse_delighted, body_of(delighted_event()), settings=UNSIGNED))
    event = delighted_event("survey_response.updated", comment="Your service is slow.", updated_at=1795169700)
    body = body_of(event)
    parsed = call(parse_delighted, body, delighted_headers(body))
    r = one(parsed)
    assert parsed.update_existing is True
    assert parsed.event_id == event["event_id"] != delighted_event()["event_id"]
    assert (r.source, r.external_id, r.comment) == (created.source, created.external_id, "Your service is slow.")
    assert r.responded_at == created.responded_at  # when they answered, not when they edited


def test_delighted_signature_is_hex_hmac_keyed_with_the_api_key():
    body = body_of(delighted_event())
    digest = hmac.new(DELIGHTED_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert signing.sign_delighted(body, DELIGHTED_SECRET) == "sha256=" + digest
    one(call(parse_delighted, body, {"x-delighted-webhook-signature": "sha256=" + digest.upper()}))
    one(call(parse_delighted, body, {"X-Delighted-Webhook-Signature": digest}))  # bare digest


@pytest.mark.parametrize("headers", [{}, {"X-Delighted-Webhook-Signature": "sha256=" + "ab" * 32},
                                     {"X-Delighted-Webhook-Signature": "sha256=zz"}])
def test_delighted_bad_or_missing_signature_is_401(headers):
    with pytest.raises(Unauthorized):
        call(parse_delighted, body_of(delighted_event()), headers)
    one(call(parse_delighted, body_of(delighted_event()), headers, settings=UNSIGNED))


def test_delighted_person_properties_give_customer_id_and_touchpoint():
    props = {"Customer ID": "C-123", "Touchpoint": "Delivery", "Delighted Source": "Email"}
    r = one(call(parse_delighted, body_of(delighted_event(person_properties=props)), settings=UNSIGNED))
    assert (r.customer_id, r.touchpoint) == ("C-123", "delivery")


def test_delighted_csat_and_ces():
    r = one(call(parse_delighted, body_of(delighted_event(survey_type="csat", score=2)), settings=UNSIGNED))
    assert (r.survey, r.score) == (SurveyKind.CSAT, 2)
    r = one(call(parse_delighted, body_of(delighted_event(survey_type="ces", score=5)), settings=UNSIGNED))
    assert r.survey is SurveyKind.CES


def test_delighted_unsubscribe_is_ignored():
    event = {"event_type": "unsubscribe.created", "event_id": "eb148ac8",
             "event_data": {"person_id": "5428", "email": "jony@example.com", "name": None, "unsubscribed_at": 1795169100}}
    parsed = call(parse_delighted, body_of(event), settings=UNSIGNED)
    assert parsed.is_ignored and parsed.responses == [] and "unsubscribe.created" in parsed.ignored
    assert parsed.event_id == "eb148ac8"


def test_delighted_invalid_fields_are_422_naming_each_path():
    event = delighted_event(score=11, id=None, created_at="soon")
    event["event_data"]["person"]["email"] = "charlie at example"
    with pytest.raises(InvalidFields) as exc:
        call(parse_delighted, body_of(event), settings=UNSIGNED)
    assert fields_of(exc) == {"event_data.score", "event_data.id", "event_data.person.email", "event_data.created_at"}


@pytest.mark.parametrize("event, field", [
    ({"event_id": "x", "event_data": {}}, "event_type"),
    ({"event_type": "survey_response.created", "event_id": "x"}, "event_data"),
    ({"event_type": "survey_response.created", "event_id": "x", "event_data": [1]}, "event_data"),
])
def test_delighted_missing_structure_is_422(event, field):
    with pytest.raises(InvalidFields) as exc:
        call(parse_delighted, body_of(event), settings=UNSIGNED)
    assert fields_of(exc) == {field}


def test_delighted_unsupported_survey_type_is_422():
    with pytest.raises(InvalidFields) as exc:
        call(parse_delighted, body_of(delighted_event(survey_type="smileys", score=4)), settings=UNSIGNED)
    assert fields_of(exc) == {"event_data.survey_type"}


# =============================================================================================
# Typeform — https://www.typeform.com/developers/webhooks/example-payload/


def typeform_event(form_id: str = "lT4Z3j", answers: list[dict] | None = None, **extra: Any) -> dict[str, Any]:
    if answers is None:
        answers = [
            {"type": "number", "number": 4,
             "field": {"id": "Nps7Bx1LqZ0a", "type": "nps", "ref": "nps_score"}},
            {"type": "text", "text": "The courier left the parcel in the rain.",
             "field": {"id": "DlXFaesGBpoF", "type": "long_text", "ref": "what_happened"}},
            {"type": "email", "email": "laura@example.com",
             "field": {"id": "SMEUb7VJz92Q", "type": "email", "ref": "readable_ref_email"}},
            {"type": "text", "text": "Laura",
             "field": {"id": "JwWggjAKtOkA", "type": "short_text", "ref": "readable_ref_short_text"}},
            {"type": "choice", "choice": {"label": "Yes"},
             "field": {"id": "k6TP9oLGgHjl", "type": "multiple_choice", "ref": "readable_ref_choice"}},
        ]
    fr = {
        "form_id": form_id,
        "token": "a3a12ec67a1365927098a606107fac15",
        "landed_at": "2026-11-20T10:07:02Z",
        "submitted_at": "2026-11-20T10:17:02Z",
        "hidden": {"user_id": "abc123456", "touchpoint": "Delivery"},
        "definition": {
            "id": form_id, "title": "How did we do?",
            "fields": [{"id": a["field"]["id"], "title": "…", "type": a["field"]["type"],
                        "ref": a["field"].get("ref"), "properties": {}} for a in answers if "field" in a],
        },
        "answers": answers,
        "ending": {"id": "DefaultTyScreen", "ref": "default_tys"},
    }
    fr.update(extra)
    return {"event_id": "01HB2ZJ8M6R7X8PQ4W2C3V4B5N", "event_type": "form_response", "form_response": fr}


def typeform_headers(body: bytes, secret: str = TYPEFORM_SECRET) -> dict[str, str]:
    return {"Typeform-Signature": signing.sign_typeform(body, secret)}


def test_typeform_signed_response_parses_with_the_forms_mapping():
    event = typeform_event()
    body = body_of(event)
    parsed = call(parse_typeform, body, typeform_headers(body))
    r = one(parsed)
    assert parsed.event_id == "01HB2ZJ8M6R7X8PQ4W2C3V4B5N" and parsed.event_type == "form_response"
    assert r == ResponseIn(source="typeform", external_id="a3a12ec67a1365927098a606107fac15",
                           survey=SurveyKind.NPS, score=4, comment="The courier left the parcel in the rain.",
                           customer_id="abc123456", customer_name="Laura", customer_email="laura@example.com",
                           touchpoint="delivery", responded_at=datetime(2026, 11, 20, 10, 17, 2, tzinfo=UTC),
                           raw=event)


def test_typeform_signature_is_base64_hmac_with_prefix():
    body = body_of(typeform_event())
    digest = base64.b64encode(hmac.new(TYPEFORM_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert signing.sign_typeform(body, TYPEFORM_SECRET) == "sha256=" + digest
    one(call(parse_typeform, body, {"typeform-signature": "sha256=" + digest}))


@pytest.mark.parametrize("sig", [None, "", "sha256=", "sha256=AAAA", "sha1=abc",
                                 "sha256=" + base64.b64encode(b"\0" * 32).decode()])
def test_typeform_bad_or_missing_signature_is_401(sig):
    body = body_of(typeform_event())
    headers = {} if sig is None else {"Typeform-Signature": sig}
    with pytest.raises(Unauthorized):
        call(parse_typeform, body, headers)
    one(call(parse_typeform, body, headers, settings=UNSIGNED))


def test_typeform_per_form_mapping_finds_the_score_by_field_id():
    answers = [
        {"type": "number", "number": 2, "field": {"id": "Qx7Rating01", "type": "rating", "ref": "0b7c-uuid-like-ref"}},
        {"type": "text", "text": "Late again", "field": {"id": "T1", "type": "long_text", "ref": "why"}},
        # a number under another field is not the score
        {"type": "number", "number": 5, "field": {"id": "Other", "type": "opinion_scale", "ref": "nps_score"}},
    ]
    r = one(call(parse_typeform, body_of(typeform_event("Cs4T01", answers)), settings=UNSIGNED))
    assert (r.survey, r.score, r.comment, r.touchpoint) == (SurveyKind.CSAT, 2, "Late again", "delivery")
    assert r.customer_id is None  # this form maps no customer id


def test_typeform_touchpoint_falls_back_when_hidden_field_is_absent():
    event = typeform_event()
    event["form_response"]["hidden"] = {}
    r = one(call(parse_typeform, body_of(event), settings=UNSIGNED))
    assert (r.touchpoint, r.customer_id) == (None, None)


def test_typeform_unknown_form_is_422_naming_form_id():
    with pytest.raises(InvalidFields) as exc:
        call(parse_typeform, body_of(typeform_event("Unknown1")), settings=UNSIGNED)
    assert fields_of(exc) == {"form_response.form_id"}
    assert "Unknown1" in exc.value.problems[0].problem


def test_typeform_missing_or_bad_score_is_422_naming_the_answer():
    event = typeform_event(answers=[])
    with pytest.raises(InvalidFields) as exc:
        call(parse_typeform, body_of(event), settings=UNSIGNED)
    assert [(p.field, p.problem) for p in exc.value.problems] == \
        [("form_response.answers[field=nps_score]", "is required")]
    event = typeform_event(answers=[{"type": "number", "number": 12, "field": {"id": "x", "type": "number", "ref": "nps_score"}},
                                    {"type": "email", "email": "nope", "field": {"id": "y", "type": "email", "ref": "readable_ref_email"}}],
                           token="", submitted_at="20/11/2026")
    with pytest.raises(InvalidFields) as exc:
        call(parse_typeform, body_of(event), settings=UNSIGNED)
    assert fields_of(exc) == {"form_response.answers[field=nps_score]", "form_response.answers[field=readable_ref_email]",
                              "form_response.token", "form_response.submitted_at"}


def test_typeform_partial_and_other_events_are_ignored():
    event = typeform_event()
    event["event_type"] = "form_response_partial"
    parsed = call(parse_typeform, body_of(event), settings=UNSIGNED)
    assert parsed.is_ignored and parsed.responses == [] and "partial" in parsed.ignored
    event["event_type"] = "form_deleted"
    assert call(parse_typeform, body_of(event), settings=UNSIGNED).is_ignored


def test_typeform_structure_problems_are_422():
    with pytest.raises(InvalidFields) as exc:
        call(parse_typeform, body_of({"event_id": "x", "event_type": "form_response"}), settings=UNSIGNED)
    assert fields_of(exc) == {"form_response"}
    with pytest.raises(InvalidFields) as exc:
        call(parse_typeform, body_of({"event_id": "x"}), settings=UNSIGNED)
    assert fields_of(exc) == {"event_type"}
    event = typeform_event()
    event["form_response"]["answers"] = {"not": "a list"}
    with pytest.raises(InvalidFields) as exc:
        call(parse_typeform, body_of(event), settings=UNSIGNED)
    assert "form_response.answers" in fields_of(exc)


# =============================================================================================
# Formbricks — Standard Webhooks; payloads per Formbricks' docs/platform/features/integrations/webhooks.mdx


SURVEY_ID = "cm3s5u7v9w0x1y2z3a4b5c6d"


def formbricks_event(event: str = "responseFinished", finished: bool = True, survey_id: str = SURVEY_ID,
                     **resp: Any) -> dict[str, Any]:
    data = {
        "contact": {"id": "cm1contact00000000000000", "userId": "user-88"},
        "contactAttributes": {"email": "sam@example.com", "firstName": "Sam", "lastName": "Taylor", "userId": "user-88"},
        "createdAt": "2026-11-20T10:12:29.507Z",
        "data": {"nps_q": 5, "why_q": "Nobody called me back.", "touchpoint": "phone"},
        "displayId": "cm1display00000000000000",
        "endingId": "endingId" if finished else None,
        "finished": finished,
        "id": "cm1response0000000000000a",
        "language": "en",
        "meta": {"country": "GB", "url": "https://app.formbricks.com/s/" + survey_id,
                 "userAgent": {"browser": "Chrome", "device": "desktop", "os": "macOS"}},
        "singleUseId": None,
        "survey": {"createdAt": "2026-07-20T10:30:00.000Z", "status": "inProgress", "title": "After your call",
                   "type": "link", "updatedAt": "2026-07-24T07:45:00.000Z"},
        "surveyId": survey_id,
        "tags": [],
        "ttc": {"_total": 4947.9, "nps_q": 2793.2},
        "updatedAt": "2026-11-20T10:12:56.116Z",
        "variables": {},
    }
    data.update(resp)
    return {"data": data, "event": event, "webhookId": "cm1webhook00000000000000"}


def fb_headers(body: bytes, *, at: datetime = NOW, msg_id: str = "5f0c3a9e", secret: str = FORMBRICKS_SECRET) -> dict[str, str]:
    return {"content-type": "application/json", **signing.standard_webhook_headers(body, secret, msg_id, at)}


def test_standard_webhooks_reference_vector():
    # The test vector of the Standard Webhooks specification.
    sig = signing.sign_standard_webhook(b'{"test": 2432232314}', "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                        "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330)
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    signing.verify_standard_webhook(
        b'{"test": 2432232314}',
        {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330", "webhook-signature": sig},
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", now=datetime.fromtimestamp(1614265330 + 60, tz=UTC))


def test_formbricks_signed_object_parses():
    event = formbricks_event()
    body = body_of(event)
    parsed = call(parse_formbricks, body, fb_headers(body))
    r = one(parsed)
    assert parsed.event_id == "5f0c3a9e" and parsed.event_type == "responseFinished"
    assert r == ResponseIn(source="formbricks", external_id="cm1response0000000000000a", survey=SurveyKind.NPS,
                           score=5, comment="Nobody called me back.", customer_id="user-88",
                           customer_name="Sam Taylor", customer_email="sam@example.com", touchpoint="phone",
                           responded_at=datetime(2026, 11, 20, 10, 12, 29, 507000, tzinfo=UTC), raw=event)


def test_formbricks_one_element_array_parses_like_the_object():
    event = formbricks_event()
    body = body_of([event])
    r = one(call(parse_formbricks, body, fb_headers(body)))
    assert r.external_id == "cm1response0000000000000a" and r.raw == [event]
    # errors inside the array name the element
    with pytest.raises(InvalidFields) as exc:
        call(parse_formbricks, body_of([formbricks_event(data={"nps_q": 11})]), settings=UNSIGNED)
    assert fields_of(exc) == {"[0].data.data.nps_q"}


@pytest.mark.parametrize("payload", [[formbricks_event(), formbricks_event()], [], ["responseFinished"], "x", 3])
def test_formbricks_other_arrays_and_types_are_400(payload):
    with pytest.raises(BadRequest) as exc:
        call(parse_formbricks, body_of(payload), settings=UNSIGNED)
    assert "Formbricks event" in exc.value.message
    if isinstance(payload, list) and len(payload) == 2:
        assert "array of 2" in exc.value.message


def test_formbricks_stale_or_future_timestamp_is_401():
    body = body_of(formbricks_event())
    with pytest.raises(Unauthorized) as exc:
        call(parse_formbricks, body, fb_headers(body, at=NOW - timedelta(minutes=5, seconds=1)))
    assert "old" in exc.value.message
    with pytest.raises(Unauthorized) as exc:
        call(parse_formbricks, body, fb_headers(body, at=NOW + timedelta(minutes=6)))
    assert "future" in exc.value.message
    one(call(parse_formbricks, body, fb_headers(body, at=NOW - timedelta(minutes=4, seconds=59))))


@pytest.mark.parametrize("drop", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_formbricks_missing_header_is_401(drop):
    body = body_of(formbricks_event())
    headers = fb_headers(body)
    del headers[drop]
    with pytest.raises(Unauthorized) as exc:
        call(parse_formbricks, body, headers)
    assert drop in exc.value.message


def test_formbricks_bad_signatures_are_401_and_any_listed_v1_signature_may_match():
    body = body_of(formbricks_event())
    headers = fb_headers(body)
    good = headers["webhook-signature"]
    other = signing.sign_standard_webhook(body, "whsec_" + base64.b64encode(b"k" * 32).decode(), "5f0c3a9e", int(NOW.timestamp()))
    for bad in (other, "v1,", "v2," + good[3:], good[3:], "v1,!!!"):
        with pytest.raises(Unauthorized):
            call(parse_formbricks, body, {**headers, "webhook-signature": bad})
    # the id and the timestamp are signed too
    with pytest.raises(Unauthorized):
        call(parse_formbricks, body, {**headers, "webhook-id": "another"})
    with pytest.raises(Unauthorized):
        call(parse_formbricks, body, {**headers, "webhook-timestamp": str(int(NOW.timestamp()) + 1)})
    with pytest.raises(Unauthorized):
        call(parse_formbricks, body, {**headers, "webhook-timestamp": "soon"})
    one(call(parse_formbricks, body, {**headers, "webhook-signature": f"v1a,xyz {other} {good}"}))


def test_formbricks_without_secret_checks_nothing_but_keeps_the_event_id():
    parsed = call(parse_formbricks, body_of(formbricks_event()), {"Webhook-Id": "evt-1"}, settings=UNSIGNED)
    assert parsed.event_id == "evt-1"
    one(parsed)
    long_id = "x" * 500
    parsed = call(parse_formbricks, body_of(formbricks_event()), {"webhook-id": long_id}, settings=UNSIGNED)
    assert parsed.event_id == "sha256:" + hashlib.sha256(long_id.encode()).hexdigest()


def test_formbricks_unfinished_responses_are_ignored_finished_ones_stored():
    for event in ("responseCreated", "responseUpdated"):
        parsed = call(parse_formbricks, body_of(formbricks_event(event, finished=False)), settings=UNSIGNED)
        assert parsed.is_ignored and parsed.responses == [] and "unfinished" in parsed.ignored
    # a one-page survey is finished when created: nothing to wait for
    r = one(call(parse_formbricks, body_of(formbricks_event("responseCreated", finished=True)), settings=UNSIGNED))
    assert r.score == 5
    assert call(parse_formbricks, body_of(formbricks_event("surveyClosed")), settings=UNSIGNED).is_ignored


def test_formbricks_configured_fields_and_anonymous_contacts():
    r = one(call(parse_formbricks, body_of(formbricks_event(
        survey_id="cm9csat0000000000000000a", contact=None, contactAttributes=None,
        data={"rating_q": 1, "email_q": "anon@example.com"})), settings=UNSIGNED))
    assert (r.survey, r.score, r.customer_email, r.customer_id, r.customer_name, r.touchpoint, r.comment) == \
        (SurveyKind.CSAT, 1, "anon@example.com", None, None, "returns", None)


def test_formbricks_unknown_survey_and_invalid_fields_are_422():
    with pytest.raises(InvalidFields) as exc:
        call(parse_formbricks, body_of(formbricks_event(survey_id="cmunknown")), settings=UNSIGNED)
    assert fields_of(exc) == {"data.surveyId"}
    bad = formbricks_event(data={"why_q": ["a", "b"]}, createdAt="never", id=None)
    bad["data"]["contactAttributes"]["email"] = "sam@"
    with pytest.raises(InvalidFields) as exc:
        call(parse_formbricks, body_of(bad), settings=UNSIGNED)
    assert fields_of(exc) == {"data.data.nps_q", "data.data.why_q", "data.createdAt", "data.id",
                              "data.contactAttributes.email"}
    with pytest.raises(InvalidFields) as exc:
        call(parse_formbricks, body_of({"event": "responseFinished"}), settings=UNSIGNED)
    assert fields_of(exc) == {"data"}


# =============================================================================================
# dispatch and error bodies


def test_parse_webhook_dispatches_and_refuses_unknown_sources():
    body = body_of(GENERIC)
    assert one(parse_webhook("generic", body, generic_headers(body), settings=SIGNED, workspace=WS, now=NOW)).score == 3
    with pytest.raises(UnknownSource) as exc:
        parse_webhook("qualtrics", body, {}, settings=SIGNED, workspace=WS, now=NOW)
    assert exc.value.status == 404


def test_error_bodies_are_json_ready():
    with pytest.raises(IntakeError) as exc:
        call(parse_generic, b"{", settings=UNSIGNED)
    assert json.loads(json.dumps(exc.value.as_dict()))["error"].startswith("body is not valid JSON")


# =============================================================================================
# property: whatever arrives, a parser answers with a Parsed or a typed IntakeError, never a crash

PARSER_LIST = [parse_generic, parse_delighted, parse_typeform, parse_formbricks]
REAL = {
    parse_generic: GENERIC,
    parse_delighted: delighted_event("survey_response.updated", comment="ok"),
    parse_typeform: typeform_event(),
    parse_formbricks: formbricks_event(),
}

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
    st.sampled_from(["", "nps", "csat", "ces", "2026-11-20T10:15:00Z", "9999-12-31T23:59:59-05:00", "1e400",
                     "lT4Z3j", "Cs4T01", SURVEY_ID, "nps_score", "form_response", "responseFinished",
                     "survey_response.updated", "a@b.co", "\u00e9", "-1", "10"]),
)
json_values = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)), max_leaves=25)


def _check(parser, body: bytes, headers: dict[str, str], settings: Settings) -> None:
    try:
        parsed = parser(body, headers, settings=settings, workspace=WS, now=NOW)
    except IntakeError as exc:
        assert exc.status in (400, 401, 413, 422)
        json.dumps(exc.as_dict())
        if exc.status == 422:
            assert exc.problems and all(p.field for p in exc.problems)
        return
    assert isinstance(parsed, Parsed)
    assert parsed.ignored is not None or parsed.responses
    for r in parsed.responses:
        assert isinstance(r, ResponseIn) and r.source == parsed.source
    assert parsed.event_id is None or 0 < len(parsed.event_id) <= 200


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parser=st.sampled_from(PARSER_LIST), raw=st.binary(max_size=300))
def test_property_arbitrary_bytes_never_crash(parser, raw):
    _check(parser, raw, {}, UNSIGNED)
    _check(parser, raw, {"webhook-id": "a", "webhook-timestamp": "1", "webhook-signature": "v1,x",
                         "X-Cxloop-Signature": "sha256=00", "Typeform-Signature": "sha256=",
                         "X-Delighted-Webhook-Signature": "x"}, SIGNED)


@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parser=st.sampled_from(PARSER_LIST), value=json_values)
def test_property_arbitrary_json_never_crashes(parser, value):
    _check(parser, json.dumps(value).encode(), {}, UNSIGNED)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, prefix + (k,)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, prefix + (i,)))
    return out


def _replace(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parser=st.sampled_from(PARSER_LIST), data=st.data())
def test_property_real_payloads_with_any_part_replaced_never_crash(parser, data):
    real = REAL[parser]
    path = data.draw(st.sampled_from(_paths(real)), label="path")
    value = data.draw(json_values, label="value")
    mutated = _replace(real, path, value)
    body = json.dumps(mutated).encode()
    _check(parser, body, {}, UNSIGNED)
    if parser is parse_formbricks:
        _check(parser, json.dumps([mutated]).encode(), {}, UNSIGNED)
    # with secrets set and a valid signature the same holds
    headers = {
        parse_generic: lambda b: generic_headers(b),
        parse_delighted: lambda b: delighted_headers(b),
        parse_typeform: lambda b: typeform_headers(b),
        parse_formbricks: lambda b: fb_headers(b),
    }[parser](body)
    _check(parser, body, headers, SIGNED)


@hsettings(max_examples=100, deadline=None)
@given(headers=st.dictionaries(st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature", "Webhook-Id"]),
                               st.text(max_size=80), max_size=4))
def test_property_formbricks_arbitrary_headers_are_401_or_accepted(headers):
    try:
        call(parse_formbricks, body_of(formbricks_event()), headers)
    except IntakeError as exc:
        assert exc.status == 401
    else:  # pragma: no cover - would mean a forged signature matched
        raise AssertionError("an arbitrary header set was accepted")
