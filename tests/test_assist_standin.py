"""The OpenAI-compatible stand-in, driven by the real `openai` clients (sync and async)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import openai
import pytest

from standins.openai_api import Answer, OpenAIStandIn, example_for

KEY = "sk-test"
SCHEMA = {"type": "object", "additionalProperties": False, "required": ["themes", "sentiment"],
          "properties": {"themes": {"type": "array", "items": {"type": "string", "enum": ["billing", "other"]}},
                         "sentiment": {"type": "string", "enum": ["negative", "neutral", "positive"]}}}
FORMAT = {"type": "json_schema", "json_schema": {"name": "classify", "strict": True, "schema": SCHEMA}}
MESSAGES = [{"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": "{\"comment\": \"hi\"}"}]


@pytest.fixture
def ai() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn.in_thread() as stand_in:
        yield stand_in


def client(ai: OpenAIStandIn, **kw: object) -> openai.OpenAI:
    opts: dict = {"max_retries": 0, "timeout": 5.0, **kw}
    return openai.OpenAI(api_key=KEY, base_url=ai.base_url, **opts)


def ask(c: openai.OpenAI, **kw: object):  # type: ignore[no-untyped-def]
    return c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, response_format=FORMAT, **kw)


def test_answers_queued_content_with_usage_and_records_the_request(ai: OpenAIStandIn) -> None:
    ai.queue({"themes": ["billing"], "sentiment": "negative"})
    done = ask(client(ai), temperature=0)
    assert json.loads(done.choices[0].message.content) == {"themes": ["billing"], "sentiment": "negative"}
    assert done.model == "gpt-4o-mini" and done.choices[0].finish_reason == "stop"
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens > 0
    (req,) = ai.chat_requests
    assert req.key == KEY and req.status == 200 and req.tokens == done.usage.total_tokens
    assert req.body["response_format"] == FORMAT and req.body["temperature"] == 0
    assert "Answer in JSON." in req.text
    assert ai.tokens_used() == done.usage.total_tokens


def test_default_answer_is_a_valid_instance_of_the_schema(ai: OpenAIStandIn) -> None:
    done = ask(client(ai))
    assert json.loads(done.choices[0].message.content) == {"themes": [], "sentiment": "negative"}
    assert example_for({"type": "array", "minItems": 2, "items": {"type": "integer"}}) == [0, 0]


def test_a_responder_sees_the_request(ai: OpenAIStandIn) -> None:
    ai.responder = lambda body: {"themes": ["other"], "sentiment": body["messages"][1]["content"][2:9]}
    done = ask(client(ai))
    assert json.loads(done.choices[0].message.content)["sentiment"] == "comment"


def test_models_and_keys(ai: OpenAIStandIn) -> None:
    assert [m.id for m in client(ai).models.list()] == ["gpt-4o-mini", "gpt-4o"]
    with pytest.raises(openai.AuthenticationError):
        ask(openai.OpenAI(api_key="sk-wrong", base_url=ai.base_url, max_retries=0))
    with pytest.raises(openai.BadRequestError, match="does not exist"):
        client(ai).chat.completions.create(model="gpt-9", messages=MESSAGES)


def test_requests_are_checked_as_openai_checks_them(ai: OpenAIStandIn) -> None:
    c = client(ai)
    loose = {"type": "json_schema", "json_schema": {"name": "x", "strict": True,
                                                    "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}
    with pytest.raises(openai.BadRequestError, match="additionalProperties"):
        c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, response_format=loose)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match="must contain the word 'json'"):
        c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                                  response_format={"type": "json_object"})
    with OpenAIStandIn.in_thread(supports_json_schema=False) as old:
        with pytest.raises(openai.BadRequestError, match="json_schema"):
            ask(client(old))


def test_faults_500_then_success_with_the_clients_own_retry(ai: OpenAIStandIn) -> None:
    ai.fail_next(status=500)
    ai.queue({"themes": ["other"], "sentiment": "neutral"})
    done = ask(client(ai, max_retries=1))
    assert json.loads(done.choices[0].message.content)["sentiment"] == "neutral"
    assert [r.status for r in ai.chat_requests] == [500, 200]


def test_429_carries_retry_after(ai: OpenAIStandIn) -> None:
    ai.fail_next(status=429, retry_after=7)
    with pytest.raises(openai.RateLimitError) as err:
        ask(client(ai))
    assert err.value.response.headers["retry-after"] == "7"


def test_a_slow_answer_times_the_client_out(ai: OpenAIStandIn) -> None:
    ai.fail_next(status=200, delay=2.0)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        ask(client(ai, timeout=0.3))
    assert time.monotonic() - started < 1.5


def test_malformed_content_wrong_schema_refusal_and_broken_body(ai: OpenAIStandIn) -> None:
    c = client(ai)
    ai.queue("{themes: oops", {"verdict": "close the case"}, Answer(refusal="I can't help with that."),
             Answer(content='{"themes": ["bill', finish_reason="length"), Answer(raw_body="<html>502</html>"))
    assert ask(c).choices[0].message.content == "{themes: oops"
    assert json.loads(ask(c).choices[0].message.content) == {"verdict": "close the case"}
    refused = ask(c).choices[0].message
    assert refused.refusal == "I can't help with that." and refused.content is None
    assert ask(c).choices[0].finish_reason == "length"
    with pytest.raises(Exception):
        ask(c)


async def test_runs_on_the_current_loop_for_the_async_client() -> None:
    async with OpenAIStandIn() as ai:
        ai.queue({"themes": ["billing"], "sentiment": "positive"})
        c = openai.AsyncOpenAI(api_key=KEY, base_url=ai.base_url, max_retries=0)
        done = await c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, response_format=FORMAT)  # type: ignore[arg-type]
        await c.close()
        assert json.loads(done.choices[0].message.content)["themes"] == ["billing"]
