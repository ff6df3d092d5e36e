"""The shapes a model must answer in: a JSON schema to ask for, a pydantic model to check with.

The schemas are written out by hand in the subset OpenAI's strict structured outputs accept (every
property required, no additional properties, enums, no length keywords), so any OpenAI-compatible
server can follow them. The pydantic models are stricter: they also bound lengths and counts, reject
unknown fields (a model answering `{"action": "assign", ...}` is refused, never obeyed) and check
values against the configured themes passed as validation context.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from bot.assist.themes import OTHER, SENTIMENTS, Sentiment

MAX_PART = 700      # characters per part of a draft
MAX_POINT = 240
MAX_QUOTE = 300
MAX_NAMES = 10


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _allowed(info: ValidationInfo) -> tuple[str, ...] | None:
    ctx = info.context or {}
    return tuple(ctx["themes"]) if "themes" in ctx else None


class ClassificationOut(_Out):
    themes: list[str] = Field(min_length=1, max_length=3)
    sentiment: Sentiment

    @field_validator("themes")
    @classmethod
    def _known(cls, v: list[str], info: ValidationInfo) -> list[str]:
        allowed = _allowed(info)
        out = list(dict.fromkeys(t.strip().lower() for t in v))
        if allowed is not None:
            unknown = [t for t in out if t not in allowed]
            if unknown:
                raise ValueError(f"unknown theme {unknown[0]!r}")
        if len(out) > 1 and OTHER in out:
            out.remove(OTHER)
        return out


class DraftOut(_Out):
    """A reply in the RESOLVED order; the greeting and the signature are added locally."""

    respond: str = Field(min_length=1, max_length=MAX_PART)
    empathize: str = Field(min_length=1, max_length=MAX_PART)
    solve: str = Field(min_length=1, max_length=MAX_PART)
    invite: str = Field(min_length=1, max_length=MAX_PART)
    verify: str = Field(min_length=1, max_length=MAX_PART)


class BulletOut(_Out):
    theme: str
    point: str = Field(min_length=1, max_length=MAX_POINT)
    quote: str = Field(min_length=3, max_length=MAX_QUOTE)
    comment_id: str = Field(min_length=1, max_length=20)

    @field_validator("theme")
    @classmethod
    def _known(cls, v: str, info: ValidationInfo) -> str:
        allowed = _allowed(info)
        v = v.strip().lower()
        if allowed is not None and v not in allowed:
            raise ValueError(f"unknown theme {v!r}")
        return v


class SummaryOut(_Out):
    bullets: list[BulletOut] = Field(min_length=1, max_length=3)


class NamesOut(_Out):
    names: list[str] = Field(max_length=MAX_NAMES)


def _obj(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": list(properties), "properties": properties}


def _text(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def classification_schema(themes: tuple[str, ...]) -> dict[str, Any]:
    return _obj({
        "themes": {"type": "array", "description": "one to three themes, most important first",
                   "items": {"type": "string", "enum": list(themes)}},
        "sentiment": {"type": "string", "enum": list(SENTIMENTS)},
    })


DRAFT_SCHEMA: dict[str, Any] = _obj({
    "respond": _text("1-2 sentences: thank them for telling us and show you heard what happened, person first"),
    "empathize": _text("1-2 sentences: name how they must feel and apologise sincerely"),
    "solve": _text("1-3 sentences: what you will do to put it right (no excuses, never cite rules or policy)"),
    "invite": _text("1 sentence: ask what they would like to happen, and mean it"),
    "verify": _text("1 question: 'If we do X, will that put things right for you?'"),
})


def summary_schema(themes: tuple[str, ...]) -> dict[str, Any]:
    return _obj({
        "bullets": {"type": "array", "description": "three bullets (fewer only if there are fewer themes)",
                    "items": _obj({
                        "theme": {"type": "string", "enum": list(themes)},
                        "point": _text("one sentence on what customers said about this theme this week"),
                        "quote": _text("words copied exactly, character for character, from one comment"),
                        "comment_id": _text("the id of the comment the quote is copied from"),
                    })},
    })


NAMES_SCHEMA: dict[str, Any] = _obj({
    "names": {"type": "array", "description": "roster names, spelled exactly as in the roster",
              "items": {"type": "string"}},
})


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def parse_json_object(content: str) -> dict[str, Any]:
    """The JSON object in a model's answer (a code fence around it is tolerated); ValueError otherwise."""
    m = _FENCE.match(content)
    text = m.group(1) if m else content
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("the answer is not a JSON object")
    return data
