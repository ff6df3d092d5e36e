"""What the assistant hands back: data only, always saying which method answered and why.

Every result carries `method` ("openai" or "offline"), the `model` that answered (None offline) and,
offline, the `reason` the model was not used. `label` turns that into the line people see:
"Drafted with gpt-4o-mini", "Drafted offline (no OpenAI key)".
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.assist.themes import Sentiment

Method = Literal["openai", "offline"]

_VERBS = {"classify": "Themes found", "draft": "Drafted", "summary": "Summarised", "names": "Names checked"}


class _Result(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Method
    model: str | None = None
    reason: str | None = Field(default=None, description="why the offline method answered")
    cached: bool = False
    tokens: int = 0

    def _label(self, kind: str) -> str:
        verb = _VERBS[kind]
        if self.method == "openai":
            return f"{verb} with {self.model}"
        return f"{verb} offline ({self.reason})" if self.reason else f"{verb} offline"


class Classification(_Result):
    """A comment's themes (from the configured list, or "other") and its sentiment."""

    themes: list[str]
    sentiment: Sentiment

    @property
    def label(self) -> str:
        return self._label("classify")


class Draft(_Result):
    """A reply for the case owner to edit and send themselves; cxloop never sends it."""

    text: str
    themes: list[str] = []
    variant: int = 0
    repaired: bool = Field(default=False, description="phrasing was removed from the model's draft")

    @property
    def label(self) -> str:
        return self._label("draft")


class SummaryBullet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    theme: str
    point: str
    quote: str = Field(description="verbatim from the comment it came from")
    comment_id: str


class DigestSummary(_Result):
    """Up to three bullet points on the week's themes, each with a customer's own words."""

    bullets: list[SummaryBullet]

    @property
    def label(self) -> str:
        return self._label("summary")


class StaffNames(_Result):
    """Roster names a customer's comment credits (never a name that is not on the roster)."""

    names: list[str]

    @property
    def label(self) -> str:
        return self._label("names")
