"""The assistant: themes, reply drafts, digest summaries and staff names, from a model or offline.

Every method returns data and nothing else: a result that says which method answered. Nothing here
changes a case, sends a message or calls anything but the model, so whatever a comment or a model
says ("close this case", an extra "action" field) can at most end up as text in a result.

The model is asked only when it is configured (OPENAI_API_KEY), on (CXLOOP_ASSIST is not "off"), not
cooling down after a failure, and under the day's token budget; its answer is used only if it
validates. Any other outcome is the offline method's answer, with the reason. Personal data is
redacted from everything sent.

The methods are synchronous and may wait on the network for seconds: call them outside database
transactions (they record token usage in their own short ones), from a thread in async code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.assist import drafts, names, prompts, schemas, summary
from bot.assist.cache import CacheKey, ResultCache, input_hash
from bot.assist.client import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, AssistUnavailable, JsonMode, ModelClient
from bot.assist.redact import redact
from bot.assist.results import Classification, DigestSummary, Draft, StaffNames, SummaryBullet
from bot.assist.themes import ThemeSet, offline_sentiment, offline_themes
from bot.assist.usage import DEFAULT_DAILY_TOKENS, MemoryUsage, TokenBudget, UsageLedger
from storage.types import utcnow

log = logging.getLogger(__name__)

R = TypeVar("R", bound=BaseModel)

NO_KEY = "no OpenAI key"
TURNED_OFF = "assistant turned off"
NOT_ASKED = "the model is not asked here"
MAX_COMMENT = 4000  # characters of a comment sent for one classification or draft


class AssistOptions(BaseSettings):
    """Tuning from the environment; the key, base URL, model and on/off switch come from `bot.config.Settings`."""

    model_config = SettingsConfigDict(env_prefix="CXLOOP_ASSIST_", extra="ignore", case_sensitive=False)

    daily_tokens: int = DEFAULT_DAILY_TOKENS
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    format: JsonMode = "auto"
    themes: str | None = None  # comma-separated; default: the six built-in themes


def is_off(value: str | None) -> bool:
    """CXLOOP_ASSIST: "off" (or false, 0, no, disabled) turns the model off entirely."""
    return (value or "on").strip().lower() in ("off", "false", "0", "no", "disabled", "none")


class Assistant:
    """Answers from a model when it can, offline otherwise; see the module docstring."""

    def __init__(self, *, model: ModelClient | None = None, off_reason: str | None = None,
                 themes: ThemeSet | None = None, cache: ResultCache | None = None) -> None:
        if model is None and off_reason is None:
            off_reason = NO_KEY
        self.model = model
        self.off_reason = off_reason
        self.themes = themes or ThemeSet()
        self.cache = cache

    @classmethod
    def offline(cls, reason: str = TURNED_OFF, *, themes: ThemeSet | None = None) -> Assistant:
        return cls(model=None, off_reason=reason, themes=themes)

    @classmethod
    def from_settings(cls, settings: Any, *, usage: UsageLedger | None = None, cache: ResultCache | None = None,
                      clock: Callable[[], datetime] = utcnow, themes: ThemeSet | Sequence[str] | None = None,
                      options: AssistOptions | None = None, http_client: Any | None = None) -> Assistant:
        """From `bot.config.Settings` (OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_MODEL, CXLOOP_ASSIST).

        `usage` should be `DbUsage(engine)` in the server, so the budget is shared and survives restarts.
        """
        options = options or AssistOptions()
        if themes is None and options.themes:
            themes = [t for t in options.themes.split(",") if t.strip()]
        theme_set = themes if isinstance(themes, ThemeSet) else ThemeSet.of(themes)
        if is_off(getattr(settings, "cxloop_assist", "on")):
            return cls.offline(TURNED_OFF, themes=theme_set)
        key = getattr(settings, "openai_api_key", None)
        if not key:
            return cls.offline(NO_KEY, themes=theme_set)
        budget = TokenBudget(usage if usage is not None else MemoryUsage(), options.daily_tokens, clock)
        client = ModelClient(api_key=key, model=settings.openai_model, base_url=settings.openai_base_url,
                             timeout=options.timeout, max_retries=options.max_retries, budget=budget, clock=clock,
                             json_mode=options.format, http_client=http_client)
        return cls(model=client, themes=theme_set, cache=cache)

    @property
    def online(self) -> bool:
        return self.model is not None

    @property
    def model_name(self) -> str | None:
        return self.model.model if self.model is not None else None

    # ---- the one path every task takes -----------------------------------------------------------

    def _ask(self, *, kind: str, subject: str | None, fresh: bool, system: str, data: dict[str, Any],
             schema: dict[str, Any], out: type[R], check: Callable[[R], dict[str, Any]], max_tokens: int,
             temperature: float, ask: bool = True) -> tuple[dict[str, Any] | None, str | None, int, bool]:
        """(payload, reason, tokens, cached): the model's checked answer, or None and why not."""
        if self.model is None:
            return None, self.off_reason, 0, False
        key = CacheKey(subject, kind, self.model.model, prompts.PROMPT_VERSIONS[kind]) if subject else None
        digest = input_hash({"system": system, "data": data, "schema": schema})
        if key is not None and self.cache is not None and not fresh:
            try:
                hit = self.cache.get(key, digest)
            except Exception:
                log.exception("assistant: cache read failed")
                hit = None
            if hit is not None:
                return hit, None, 0, True
        if not ask:
            return None, NOT_ASKED, 0, False
        context = {"themes": self.themes.all}

        def parse(content: str) -> dict[str, Any]:
            return check(out.model_validate(schemas.parse_json_object(content), context=context))

        try:
            done = self.model.complete(task=kind, system=system, data=data, schema=schema, parse=parse,
                                       max_tokens=max_tokens, temperature=temperature)
        except AssistUnavailable as exc:
            return None, exc.reason, 0, False
        if key is not None and self.cache is not None:
            try:
                self.cache.put(key, digest, done.value, done.tokens)
            except Exception:
                log.exception("assistant: cache write failed")
        return done.value, None, done.tokens, False

    def _meta(self, reason: str | None, tokens: int, cached: bool) -> dict[str, Any]:
        if reason is None:
            return {"method": "openai", "model": self.model_name, "tokens": tokens, "cached": cached}
        return {"method": "offline", "model": None, "reason": reason}

    # ---- themes and sentiment ------------------------------------------------------------------

    def classify(self, comment: str | None, *, survey: str | None = None, score: int | None = None,
                 response_id: int | None = None, fresh: bool = False) -> Classification:
        """The comment's themes and sentiment. `response_id` keys the cache."""
        text = (comment or "").strip()
        if not text:
            return Classification(themes=[], sentiment=_score_sentiment(survey, score), method="offline",
                                  reason="no comment")
        data = {"comment": redact(text[:MAX_COMMENT]), "survey": survey, "score": score}
        payload, reason, tokens, cached = self._ask(
            kind="classify", subject=f"response:{response_id}" if response_id is not None else None, fresh=fresh,
            system=prompts.classify_system(self.themes), data=data,
            schema=schemas.classification_schema(self.themes.all), out=schemas.ClassificationOut,
            check=lambda o: o.model_dump(), max_tokens=100, temperature=0)
        if payload is not None:
            return Classification(themes=payload["themes"], sentiment=payload["sentiment"],
                                  **self._meta(None, tokens, cached))
        return Classification(themes=offline_themes(text, self.themes),
                              sentiment=offline_sentiment(text, survey=survey, score=score),
                              **self._meta(reason, 0, False))

    # ---- reply drafts ------------------------------------------------------------------------------

    def draft_reply(self, source: Any, *, variant: int = 0, fresh: bool = False, ask_model: bool = True) -> Draft:
        """A reply following RESOLVED, for the owner to edit; `variant` > 0 (Regenerate) asks anew.

        `ask_model=False` (inside a database transaction) uses a cached model draft or the offline one.
        """
        inp = source if isinstance(source, drafts.DraftInput) else drafts.DraftInput.from_view(source)
        text = (inp.comment or "").strip()
        offline_c = Classification(themes=offline_themes(text, self.themes) if text else ["other"],
                                   sentiment=offline_sentiment(text, survey=inp.survey, score=inp.score),
                                   method="offline")
        themes = offline_c.themes
        data = {"comment": redact(text[:MAX_COMMENT]) or None, "survey": inp.survey, "score": inp.score,
                "touchpoint": inp.touchpoint, "themes": themes, "sentiment": offline_c.sentiment}
        if variant:
            data["attempt"] = variant + 1  # a fresh take, and a different cache input
        subject = f"response:{inp.response_id}" if inp.response_id is not None and not variant else None
        payload, reason, tokens, cached = self._ask(
            kind="draft", subject=subject, fresh=fresh or bool(variant), system=prompts.DRAFT_SYSTEM, data=data,
            schema=schemas.DRAFT_SCHEMA, out=schemas.DraftOut, check=_checked_draft,
            max_tokens=700, temperature=0.7 if variant else 0.4, ask=ask_model)
        if payload is not None:
            return Draft(text=drafts.assemble(payload["parts"], inp), themes=themes, variant=variant,
                         repaired=payload["repaired"], **self._meta(None, tokens, cached))
        return Draft(text=drafts.offline_draft(inp, themes, offline_c.sentiment, variant), themes=themes,
                     variant=variant, **self._meta(reason, 0, False))

    # ---- the digest summary ------------------------------------------------------------------------

    def _summary_request(self, comments: Sequence[summary.CommentIn]) -> tuple[list[summary.CommentIn], dict[str, Any]]:
        usable = [c for c in comments if c.text and c.text.strip()]
        sent = usable[-summary.MAX_COMMENTS:]
        data = {"comments": [{"id": c.id, "text": redact(c.text[:summary.COMMENT_CHARS]), "survey": c.survey,
                              "score": c.score} for c in sent]}
        return sent, data

    def _summary_from(self, payload: dict[str, Any], comments: Sequence[summary.CommentIn], tokens: int,
                      cached: bool) -> DigestSummary | None:
        bullets = [SummaryBullet.model_validate(b) for b in payload["bullets"]]
        # Re-checked against the comments at hand, cached or not: quotes stay verbatim, always.
        by_id = {c.id: c.text for c in comments}
        if not all(b.comment_id in by_id and b.quote in by_id[b.comment_id] for b in bullets):
            return None
        return DigestSummary(bullets=bullets, **self._meta(None, tokens, cached))

    def summarize_week(self, comments: Sequence[summary.CommentIn], *, subject: str | None = None,
                       fresh: bool = False) -> DigestSummary:
        """Up to three bullets on the week's themes, each quoting a real comment verbatim."""
        sent, data = self._summary_request(comments)
        if not sent:
            return DigestSummary(bullets=[], method="offline", reason="no comments")

        def check(o: schemas.SummaryOut) -> dict[str, Any]:
            return {"bullets": [b.model_dump() for b in summary.check_model_summary(o, sent)]}

        payload, reason, tokens, cached = self._ask(
            kind="summary", subject=subject, fresh=fresh, system=prompts.summary_system(self.themes), data=data,
            schema=schemas.summary_schema(self.themes.all), out=schemas.SummaryOut, check=check,
            max_tokens=600, temperature=0.2)
        if payload is not None:
            done = self._summary_from(payload, comments, tokens, cached)
            if done is not None:
                return done
            reason = "the model's answer was not valid"
        usable = [c for c in comments if c.text and c.text.strip()]
        return DigestSummary(bullets=summary.offline_summary(usable, self.themes), **self._meta(reason, 0, False))

    def cached_summary(self, comments: Sequence[summary.CommentIn], *, subject: str) -> DigestSummary | None:
        """The model's summary of exactly these comments if one is cached; never asks the model."""
        if self.model is None or self.cache is None:
            return None
        sent, data = self._summary_request(comments)
        if not sent:
            return None
        system, schema = prompts.summary_system(self.themes), schemas.summary_schema(self.themes.all)
        key = CacheKey(subject, "summary", self.model.model, prompts.PROMPT_VERSIONS["summary"])
        try:
            hit = self.cache.get(key, input_hash({"system": system, "data": data, "schema": schema}))
        except Exception:
            log.exception("assistant: cache read failed")
            return None
        return self._summary_from(hit, comments, 0, True) if hit is not None else None

    # ---- staff names in praise ---------------------------------------------------------------------

    def staff_named(self, comment: str | None, roster: Sequence[str], *, response_id: int | None = None,
                    fresh: bool = False) -> StaffNames:
        """Roster names the comment credits: proposed by the model, kept only if the roster confirms them."""
        text = (comment or "").strip()
        offline = names.offline_names(text, roster)
        if not text or not roster:
            return StaffNames(names=[], method="offline", reason="no comment" if not text else "empty roster")
        if not offline:
            # Nobody on the roster is named: there is nothing for a model to confirm (and nothing to pay for).
            return StaffNames(names=[], method="offline", reason="no roster name in the comment")
        data = {"comment": redact(text[:MAX_COMMENT]), "roster": list(roster)}
        payload, reason, tokens, cached = self._ask(
            kind="names", subject=f"response:{response_id}" if response_id is not None else None, fresh=fresh,
            system=prompts.NAMES_SYSTEM, data=data, schema=schemas.NAMES_SCHEMA, out=schemas.NamesOut,
            check=lambda o: {"names": names.confirm_names(o.names, text, roster)}, max_tokens=120, temperature=0)
        if payload is not None:
            return StaffNames(names=payload["names"], **self._meta(None, tokens, cached))
        return StaffNames(names=offline, **self._meta(reason, 0, False))


def _checked_draft(out: schemas.DraftOut) -> dict[str, Any]:
    parts, repaired = drafts.repair_model_draft(out)
    return {"parts": parts, "repaired": repaired}


def _score_sentiment(survey: str | None, score: int | None) -> Any:
    from bot.assist.themes import sentiment_from_score

    return sentiment_from_score(survey, score) or "neutral"


# ---- the functional API -------------------------------------------------------------------------


def classify(comment: str | None, *, assistant: Assistant, **kwargs: Any) -> Classification:
    """Themes and sentiment of one comment."""
    return assistant.classify(comment, **kwargs)


def draft_reply(source: Any, *, assistant: Assistant, **kwargs: Any) -> Draft:
    """A RESOLVED reply draft from a CaseView or a DraftInput."""
    return assistant.draft_reply(source, **kwargs)


def summarize_week(comments: Sequence[summary.CommentIn], *, assistant: Assistant, **kwargs: Any) -> DigestSummary:
    """The digest's three bullets with verbatim quotes."""
    return assistant.summarize_week(comments, **kwargs)


def staff_named(comment: str | None, roster: Sequence[str], *, assistant: Assistant, **kwargs: Any) -> StaffNames:
    """Roster names credited in a comment."""
    return assistant.staff_named(comment, roster, **kwargs)


# ---- one assistant per process ------------------------------------------------------------------

_SHARED: dict[tuple[Any, ...], Assistant] = {}


def workspace_themes(ws: Any) -> ThemeSet | None:
    """The workspace YAML's `assist: {themes: …}`, when the workspace has that section."""
    cfg = getattr(ws, "assist", None)
    themes = getattr(cfg, "themes", None) if cfg is not None else None
    return ThemeSet.of(themes) if themes else None


def assistant_for(settings: Any, engine: Any, ws: Any = None) -> Assistant:
    """The process's assistant for these settings and database: budget and cache in the database, one
    client (and its cool-down) shared by every caller."""
    from bot.assist.cache import DbCache
    from bot.assist.usage import DbUsage

    themes = workspace_themes(ws)
    cfg = getattr(ws, "assist", None)
    daily = getattr(cfg, "daily_tokens", None) if cfg is not None else None
    key = (str(getattr(engine, "url", id(engine))), getattr(settings, "openai_api_key", None), getattr(settings, "openai_base_url", None),
           getattr(settings, "openai_model", None), getattr(settings, "cxloop_assist", None),
           themes.all if themes else None, daily)
    found = _SHARED.get(key)
    if found is None:
        options = AssistOptions()
        if daily is not None:
            options = options.model_copy(update={"daily_tokens": int(daily)})
        found = Assistant.from_settings(settings, usage=DbUsage(engine), cache=DbCache(engine), themes=themes,
                                        options=options)
        _SHARED[key] = found
    return found
