"""A local stand-in of an OpenAI-compatible API, for tests, benchmarks and `cxloop demo`.

The real `openai` client talks to it over HTTP (``OpenAI(base_url=stand_in.base_url, api_key=...)``).
It serves ``POST /v1/chat/completions`` and ``GET /v1/models``, checks the bearer key and the request
the way OpenAI does (a model, a list of messages, a valid ``response_format``), records every request
(body and headers), and answers what the test programs:

- ``queue(...)``: answers taken in order by the next chat requests;
- ``responder``: a function of the request body, used when the queue is empty (the default answers
  with a minimal instance of the requested JSON schema, or ``{}`` in JSON mode);
- ``fail_next(...)``: HTTP faults: 500s, 429 with Retry-After, slow answers (client timeouts);
- answers can also carry malformed JSON content, a wrong schema, a refusal, a truncated finish, or a
  body that is not JSON at all.

Every answer reports ``usage`` tokens (about four characters a token, as OpenAI's own rule of thumb),
so a token budget can be tested. Two ways to run it, as the Slack stand-in:
``async with OpenAIStandIn() as ai:`` on the running loop (use AsyncOpenAI there), or
``with OpenAIStandIn.in_thread() as ai:`` on its own loop in a background thread (for OpenAI).
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from standins.local_server import LocalServer

DEFAULT_KEY = "sk-test"
DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o")


@dataclass
class Answer:
    """What the stand-in answers to one chat request.

    `content` is the assistant message: a str is sent as is (so it can be malformed JSON), anything
    else is JSON-encoded. `status` other than 200 answers an OpenAI-shaped error with `error`.
    `raw_body` replaces the whole HTTP body (e.g. b"<html>" for a proxy's error page).
    """

    content: Any = None
    status: int = 200
    error: str | None = None
    retry_after: float | None = None
    delay: float = 0.0
    refusal: str | None = None
    finish_reason: str = "stop"
    usage: dict[str, int] | None = None
    raw_body: bytes | str | None = None
    model: str | None = None  # the model the answer claims; default: the one asked for


@dataclass
class OpenAIRequest:
    """One request the stand-in received."""

    method: str
    path: str
    body: Any
    headers: dict[str, str]
    at: float
    status: int | None = None  # the HTTP status answered; None while in flight
    tokens: int = 0  # total tokens reported in the answer's usage

    @property
    def key(self) -> str | None:
        """The API key sent as a bearer token."""
        auth = next((v for k, v in self.headers.items() if k.lower() == "authorization"), "")
        if not auth.startswith("Bearer "):
            return None
        return auth.removeprefix("Bearer ").strip() or None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or []) if isinstance(self.body, dict) else []

    @property
    def text(self) -> str:
        """Every message's content, joined: what left the machine, for privacy checks."""
        return "\n".join(_content_text(m.get("content")) for m in self.messages)


Responder = Callable[[dict[str, Any]], "Answer | str | dict[str, Any] | list[Any]"]


class OpenAIStandIn(LocalServer):
    """An OpenAI-compatible chat completions server on 127.0.0.1 and a free port."""

    label = "OpenAI stand-in"

    def __init__(self, *, api_key: str | None = DEFAULT_KEY, models: tuple[str, ...] = DEFAULT_MODELS,
                 supports_json_schema: bool = True) -> None:
        super().__init__()
        self.api_key = api_key  # None: accept any key, as local servers (vLLM, Ollama) often do
        self.models = models
        # Some OpenAI-compatible servers know only JSON mode; they answer 400 to a json_schema format.
        self.supports_json_schema = supports_json_schema
        self.responder: Responder = schema_example
        self._lock = threading.RLock()
        self._answered = threading.Condition(self._lock)
        self._requests: list[OpenAIRequest] = []
        self._queue: deque[Answer] = deque()
        self._faults: deque[tuple[Answer, int]] = deque()
        self._serial = 0

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What to give the `openai` client as `base_url` (or OPENAI_BASE_URL)."""
        return f"{self.url}/v1"

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/chat/completions", self._chat)
        router.add_get("/v1/models", self._models)
        router.add_get("/v1/models/{model}", self._model)

    # ---- programming and inspection --------------------------------------------------------

    def queue(self, *answers: Answer | str | dict[str, Any] | list[Any]) -> None:
        """Answers for the next chat requests, in order (after any queued fault)."""
        with self._lock:
            self._queue.extend(_as_answer(a) for a in answers)

    def fail_next(self, *, status: int = 500, times: int = 1, retry_after: float | None = None,
                  delay: float = 0.0, error: str | None = None) -> None:
        """Make the next `times` chat requests fail with `status` (status 200 with a delay: a slow answer).

        A slow answer still answers normally afterwards, so a client with a short timeout gives up first.
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        fault = Answer(status=status, retry_after=retry_after, delay=delay,
                       error=error or _REASONS.get(status, "The server had an error while processing your request."))
        with self._lock:
            self._faults.append((fault, times))

    @property
    def requests(self) -> list[OpenAIRequest]:
        """Every request received, oldest first (a snapshot)."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[OpenAIRequest]:
        with self._lock:
            return [r for r in self._requests if r.path == "/v1/chat/completions"]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def reset(self) -> None:
        """Forget requests, queued answers and faults; answer with the default responder again."""
        with self._lock:
            self._requests.clear()
            self._queue.clear()
            self._faults.clear()
            self.responder = schema_example

    def tokens_used(self) -> int:
        """Total tokens reported in the usage of every answered chat request."""
        with self._lock:
            return sum(r.tokens for r in self._requests)

    def wait_for_requests(self, count: int = 1, timeout: float = 5.0) -> list[OpenAIRequest]:
        """Block until `count` chat requests have been answered."""
        deadline = time.monotonic() + timeout
        with self._answered:
            while len(done := [r for r in self.chat_requests if r.status is not None]) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(done)} of {count} chat requests answered after {timeout}s")
                self._answered.wait(remaining)
            return done

    # ---- HTTP ------------------------------------------------------------------------------

    def _record(self, request: web.Request, body: Any) -> OpenAIRequest:
        rec = OpenAIRequest(method=request.method, path=request.path, body=body, headers=dict(request.headers),
                            at=time.time())
        with self._lock:
            self._requests.append(rec)
        return rec

    def _done(self, rec: OpenAIRequest, response: web.StreamResponse) -> web.StreamResponse:
        with self._answered:
            rec.status = response.status
            self._answered.notify_all()
        return response

    def _auth_error(self, rec: OpenAIRequest) -> web.Response | None:
        if self.api_key is None:
            return None
        if rec.key is None:
            return self._done(rec, _error(401, "You didn't provide an API key.", "invalid_request_error", None))
        if rec.key != self.api_key:
            return self._done(rec, _error(401, "Incorrect API key provided.", "invalid_request_error",
                                          "invalid_api_key"))
        return None

    async def _models(self, request: web.Request) -> web.StreamResponse:
        rec = self._record(request, None)
        if (denied := self._auth_error(rec)) is not None:
            return denied
        data = [{"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "cxloop-stand-in"}
                for m in self.models]
        return self._done(rec, web.json_response({"object": "list", "data": data}))

    async def _model(self, request: web.Request) -> web.StreamResponse:
        rec = self._record(request, None)
        if (denied := self._auth_error(rec)) is not None:
            return denied
        name = request.match_info["model"]
        if name not in self.models:
            return self._done(rec, _error(404, f"The model `{name}` does not exist.", "invalid_request_error",
                                          "model_not_found"))
        return self._done(rec, web.json_response({"id": name, "object": "model", "created": 1_700_000_000,
                                                  "owned_by": "cxloop-stand-in"}))

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = raw.decode("utf-8", "replace")
        rec = self._record(request, body)
        if (denied := self._auth_error(rec)) is not None:
            return denied
        problem = self._check(body)
        if problem is not None:
            return self._done(rec, _error(400, problem[0], "invalid_request_error", problem[1]))
        answer = self._next_answer(body)
        if answer.delay:
            await self._pause(answer.delay)
        if answer.status != 200:
            headers = {"retry-after": _seconds(answer.retry_after)} if answer.retry_after is not None else {}
            return self._done(rec, _error(answer.status, answer.error or "error", _ERROR_TYPES.get(answer.status,
                                          "server_error"), None, headers=headers))
        if answer.raw_body is not None:
            raw_out = answer.raw_body.encode() if isinstance(answer.raw_body, str) else answer.raw_body
            return self._done(rec, web.Response(body=raw_out, status=200, content_type="application/json"))
        payload = self._completion(body, answer)
        rec.tokens = payload["usage"]["total_tokens"]
        return self._done(rec, web.json_response(payload))

    async def _pause(self, seconds: float) -> None:
        assert self.closing is not None
        try:
            await asyncio.wait_for(self.closing.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass

    def _check(self, body: Any) -> tuple[str, str | None] | None:
        """Reject a request the way OpenAI does: (message, param) or None."""
        if not isinstance(body, dict):
            return "We could not parse the JSON body of your request.", None
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return "you must provide a model parameter", "model"
        if model not in self.models:
            return f"The model `{model}` does not exist or you do not have access to it.", "model"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "'messages' must be a non-empty array", "messages"
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant", "tool"):
                return f"Invalid value for 'messages[{i}].role'.", f"messages[{i}].role"
        fmt = body.get("response_format")
        if fmt is None:
            return None
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind == "json_schema":
            if not self.supports_json_schema:
                return "response_format of type 'json_schema' is not supported with this model", "response_format"
            spec = fmt.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) \
                    or not isinstance(spec.get("schema"), dict):
                return "Missing required parameter: 'response_format.json_schema'.", "response_format.json_schema"
            if spec.get("strict") and (problem := _strict_problem(spec["schema"])):
                return f"Invalid schema for response_format '{spec['name']}': {problem}", "response_format"
        elif kind == "json_object":
            # OpenAI insists the messages mention JSON in JSON mode.
            if not any("json" in _content_text(m.get("content")).lower() for m in messages):
                return "'messages' must contain the word 'json' in some form, to use 'response_format' of type " \
                       "'json_object'.", "messages"
        elif kind != "text":
            return f"Invalid value for 'response_format.type': {kind!r}.", "response_format.type"
        return None

    def _next_answer(self, body: dict[str, Any]) -> Answer:
        with self._lock:
            if self._faults:
                fault, times = self._faults[0]
                if times <= 1:
                    self._faults.popleft()
                else:
                    self._faults[0] = (fault, times - 1)
                if fault.status != 200:
                    return fault
                delayed = fault
            else:
                delayed = None
            answer = self._queue.popleft() if self._queue else None
            responder = self.responder
        if answer is None:
            answer = _as_answer(responder(body))
        if delayed is not None:
            answer = Answer(**{**answer.__dict__, "delay": delayed.delay})
        return answer

    def _completion(self, body: dict[str, Any], answer: Answer) -> dict[str, Any]:
        content = answer.content
        if content is not None and not isinstance(content, str):
            content = json.dumps(content)
        if answer.refusal is not None:
            content = None
        with self._lock:
            self._serial += 1
            serial = self._serial
        prompt_chars = sum(len(_content_text(m.get("content"))) for m in body["messages"])
        usage = answer.usage or {"prompt_tokens": max(1, math.ceil(prompt_chars / 4)),
                                 "completion_tokens": math.ceil(len(content or answer.refusal or "") / 4)}
        usage = {**usage, "total_tokens": usage.get("total_tokens", usage["prompt_tokens"]
                                                    + usage["completion_tokens"])}
        return {
            "id": f"chatcmpl-standin{serial:06d}", "object": "chat.completion", "created": int(time.time()),
            "model": answer.model or body["model"], "system_fingerprint": "fp_standin",
            "choices": [{"index": 0, "logprobs": None, "finish_reason": answer.finish_reason,
                         "message": {"role": "assistant", "content": content, "refusal": answer.refusal}}],
            "usage": usage,
        }


# ---- default answers ---------------------------------------------------------------------


def schema_example(body: dict[str, Any]) -> dict[str, Any]:
    """The smallest valid instance of the requested JSON schema ({} in JSON mode)."""
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return example_for(fmt["json_schema"]["schema"])
    return {}


def example_for(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> Any:
    """A minimal instance of a (strict-mode) JSON schema: first enum value, minimum lengths, required keys."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return example_for(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return example_for(schema["anyOf"][0], defs)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: example_for(props[k], defs) for k in schema.get("required", list(props))}
    if kind == "array":
        return [example_for(schema.get("items", {}), defs) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        return "x" * max(1, schema.get("minLength", 1))
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0))
    if kind == "boolean":
        return False
    return None


# ---- helpers -------------------------------------------------------------------------------

_REASONS = {
    400: "Bad request.",
    429: "Rate limit reached for requests. Please try again later.",
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.",
    503: "The engine is currently overloaded, please try again later.",
}
_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
                429: "rate_limit_exceeded", 503: "server_error"}


def _as_answer(a: Answer | str | dict[str, Any] | list[Any]) -> Answer:
    return a if isinstance(a, Answer) else Answer(content=a)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _error(status: int, message: str, kind: str, code: str | None, *,
           headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"message": message, "type": kind, "param": None, "code": code}},
                             status=status, headers=headers)


def _content_text(content: Any) -> str:
    """A message's text, whether a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _strict_problem(schema: Any, path: str = "schema") -> str | None:
    """What OpenAI's strict mode would refuse: objects must list every property as required and forbid others."""
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "object" or "properties" in schema:
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            return f"In context={path}, 'additionalProperties' is required to be supplied and to be false."
        missing = [k for k in props if k not in schema.get("required", [])]
        if missing:
            return f"In context={path}, 'required' is required to include every property; missing {missing[0]!r}."
        for k, sub in props.items():
            if (p := _strict_problem(sub, f"{path}.{k}")) is not None:
                return p
    if "items" in schema:
        return _strict_problem(schema["items"], f"{path}[]")
    for name, sub in schema.get("$defs", {}).items():
        if (p := _strict_problem(sub, f"$defs.{name}")) is not None:
            return p
    return None
