"""One careful call to an OpenAI-compatible model: budget, timeout, retries, validation, or a reason why not.

`ModelClient.complete` either returns a validated answer or raises `AssistUnavailable` with a short
reason people can read ("OpenAI timed out"). The policy, on top of the `openai` client's own retries
(`max_retries`, with backoff and Retry-After, for 429s, 5xx, timeouts and dropped connections):

- a request starts only while the daily token budget has room; every answer's tokens are recorded,
  valid or not (they were paid for);
- an answer that is not valid JSON of the required shape is asked for once more, then given up;
- a server that knows only JSON mode (a 400 naming response_format) is asked again in JSON mode, with
  the schema in the prompt, and remembered;
- after a failure the model is left alone for a cool-down (longer when a 429 says so), so a service
  that is down costs one timeout, not one per comment. The cool-down lives in memory on purpose:
  forgetting it on restart only means one more try.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import ValidationError

from bot.assist.prompts import schema_reminder, user_message
from bot.assist.usage import BudgetExhausted, TokenBudget
from storage.types import utcnow

if TYPE_CHECKING:  # the `openai` package is imported on first use: it takes seconds, and most runs never need it
    import openai

log = logging.getLogger(__name__)

T = TypeVar("T")
JsonMode = Literal["auto", "json_schema", "json_object"]

DEFAULT_TIMEOUT = 15.0      # seconds per attempt
DEFAULT_MAX_RETRIES = 1     # the client's own retries: at worst about 2 × 15 s, then the offline method
DEFAULT_COOLDOWN = timedelta(seconds=60)
AUTH_COOLDOWN = timedelta(minutes=10)


class AssistUnavailable(Exception):
    """The model cannot answer now; `reason` says why, for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidAnswer(ValueError):
    """The model answered, but not in the required shape (or with content that fails our checks)."""


@dataclass(frozen=True)
class Completion(Generic[T]):
    value: T
    model: str
    tokens: int


def estimate_tokens(text: str) -> int:
    """About four characters a token: OpenAI's rule of thumb, good enough for a budget."""
    return max(1, math.ceil(len(text) / 4))


def _retry_after(exc: openai.APIStatusError) -> float | None:
    try:
        value = exc.response.headers.get("retry-after")
        return float(value) if value is not None else None
    except (AttributeError, ValueError):
        return None


class ModelClient:
    """Chat completions with structured output against OpenAI or any compatible server."""

    def __init__(self, *, api_key: str, model: str, base_url: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, max_retries: int = DEFAULT_MAX_RETRIES,
                 budget: TokenBudget | None = None, clock: Callable[[], datetime] = utcnow,
                 cooldown: timedelta = DEFAULT_COOLDOWN, output_retries: int = 1, json_mode: JsonMode = "auto",
                 http_client: Any | None = None) -> None:
        self.model = model
        self.budget = budget
        self.clock = clock
        self.cooldown = cooldown
        self.output_retries = output_retries
        self.json_mode: JsonMode = json_mode
        import openai

        self._client = openai.OpenAI(api_key=api_key, base_url=base_url or None, timeout=timeout,
                                     max_retries=max_retries, http_client=http_client)
        self._lock = threading.Lock()
        self._down_until: datetime | None = None
        self._down_reason = ""

    def close(self) -> None:
        self._client.close()

    # ---- cool-down ---------------------------------------------------------------------------

    def _check_cooldown(self) -> None:
        with self._lock:
            if self._down_until is not None and self.clock() < self._down_until:
                raise AssistUnavailable(self._down_reason)

    def _fail(self, reason: str, *, pause: timedelta | None = None) -> AssistUnavailable:
        pause = self.cooldown if pause is None else pause
        with self._lock:
            if pause > timedelta(0):
                self._down_until = self.clock() + pause
                self._down_reason = reason
        log.warning("assistant: %s; offline method for %ss", reason, int(pause.total_seconds()))
        return AssistUnavailable(reason)

    # ---- the call ----------------------------------------------------------------------------

    def complete(self, *, task: str, system: str, data: dict[str, Any], schema: dict[str, Any],
                 parse: Callable[[str], T], max_tokens: int = 600, temperature: float = 0.2) -> Completion[T]:
        """Ask, check the answer with `parse` (raising ValueError/ValidationError when invalid), and return it."""
        import openai

        self._check_cooldown()
        prompt = user_message(task, data)
        attempts = 1 + max(0, self.output_retries)
        problem = "the model's answer was not valid"
        spent = 0
        attempt = 0
        while attempt < attempts:
            attempt += 1
            if self.budget is not None:
                try:
                    self.budget.check()
                except BudgetExhausted:
                    raise AssistUnavailable("daily token budget used up") from None
            mode = "json_object" if self.json_mode == "json_object" else "json_schema"
            try:
                completion = self._create(task, system, prompt, schema, mode, max_tokens, temperature)
            except openai.BadRequestError as exc:
                if mode == "json_schema" and self.json_mode == "auto" and _about_format(exc):
                    log.info("assistant: the server has no structured outputs; using JSON mode")
                    self.json_mode = "json_object"
                    attempt -= 1  # not the model's fault: ask again in JSON mode
                    continue
                raise self._fail(f"OpenAI refused the request ({exc.status_code})") from None
            except openai.APITimeoutError:
                self._record(estimate_tokens(system + prompt))
                raise self._fail("OpenAI timed out") from None
            except openai.AuthenticationError:
                raise self._fail("OpenAI key refused", pause=AUTH_COOLDOWN) from None
            except openai.RateLimitError as exc:
                wait = max(self.cooldown.total_seconds(), _retry_after(exc) or 0)
                raise self._fail("OpenAI rate limit", pause=timedelta(seconds=wait)) from None
            except openai.APIStatusError as exc:
                raise self._fail(f"OpenAI error {exc.status_code}") from None
            except openai.APIConnectionError:
                raise self._fail("OpenAI unreachable") from None
            except openai.APIResponseValidationError:
                raise self._fail("unreadable answer from OpenAI") from None
            except Exception as exc:  # a body that is not JSON, a proxy's page: never let it escape
                log.exception("assistant: %s call failed", task)
                raise self._fail(f"OpenAI call failed ({type(exc).__name__})") from None
            usage = getattr(completion, "usage", None)
            tokens = int(getattr(usage, "total_tokens", 0) or 0) or estimate_tokens(system + prompt)
            self._record(tokens)
            spent += tokens
            try:
                value = parse(self._content(completion))
            except (InvalidAnswer, ValidationError, ValueError) as exc:
                problem = "the model's answer was not valid"
                log.warning("assistant: invalid %s answer (attempt %s of %s): %s", task, attempt, attempts,
                            _short(exc))
                continue
            return Completion(value=value, model=self.model, tokens=spent)
        # Invalid answers are the model's, not the service's: no cool-down, the next question may do better.
        raise AssistUnavailable(problem)

    def _create(self, task: str, system: str, prompt: str, schema: dict[str, Any], mode: str, max_tokens: int,
                temperature: float) -> Any:
        if mode == "json_schema":
            fmt: dict[str, Any] = {"type": "json_schema",
                                   "json_schema": {"name": task, "strict": True, "schema": schema}}
        else:
            fmt = {"type": "json_object"}
            system = system + schema_reminder(schema)
        return self._client.chat.completions.create(
            model=self.model,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": prompt}],
            response_format=fmt,  # type: ignore[arg-type]
            temperature=temperature,
            max_completion_tokens=max_tokens,
        )

    @staticmethod
    def _content(completion: Any) -> str:
        choices = getattr(completion, "choices", None) or []
        if not choices:
            raise InvalidAnswer("no choices in the answer")
        choice = choices[0]
        message = choice.message
        if getattr(message, "refusal", None):
            raise InvalidAnswer("the model refused")
        if choice.finish_reason == "length":
            raise InvalidAnswer("the answer was cut short")
        if not isinstance(message.content, str) or not message.content.strip():
            raise InvalidAnswer("empty answer")
        return message.content

    def _record(self, tokens: int) -> None:
        if self.budget is not None:
            try:
                self.budget.record(tokens)
            except Exception:  # counting must never turn a good answer into a failure
                log.exception("assistant: could not record %s tokens", tokens)


def _about_format(exc: openai.BadRequestError) -> bool:
    text = str(exc).lower()
    return "response_format" in text or "json_schema" in text


def _short(exc: Exception) -> str:
    """What was wrong, without echoing the answer (it may quote customer text)."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(answer)'}: {e['type']}" for e in exc.errors())[:300]
    return type(exc).__name__ + (f": {exc}" if isinstance(exc, InvalidAnswer) else "")
