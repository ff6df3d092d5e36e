"""The digest's summary: up to three bullets on the week's themes, each with a customer's own words.

Quotes are never invented. Offline, each is a sentence (or the start of one) cut from a real comment.
A model's quote must be found in the comment it names; small differences of spacing, case or curly
quotes are forgiven by taking the comment's own characters instead, anything else refuses the whole
answer. Quotes that would show an email, a phone or a card number are never used.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from bot.assist.redact import has_personal_data
from bot.assist.results import SummaryBullet
from bot.assist.schemas import SummaryOut
from bot.assist.themes import OTHER, ThemeSet, offline_sentiment, offline_themes

MAX_BULLETS = 3
QUOTE_CHARS = 200
MAX_COMMENTS = 60        # sent to a model for one summary
COMMENT_CHARS = 500      # of each comment


class CommentIn(BaseModel):
    """One comment of the week: its id (any string, e.g. the response id), text, survey and score."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    text: str
    survey: str | None = None
    score: int | None = None


_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})


def _cut(text: str, limit: int = QUOTE_CHARS) -> str:
    """`text` if short enough, else its start up to a word boundary (still verbatim)."""
    text = text.strip()
    if len(text) <= limit:
        return text
    head = text[:limit]
    return head.rsplit(" ", 1)[0].rstrip(" ,;:-") if " " in head else head


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if len(s.strip()) >= 3]


def quote_for(text: str, theme: str, themes: ThemeSet) -> str | None:
    """The sentence of `text` that best shows `theme` (verbatim), or None if all carry personal data."""
    pattern = themes.pattern(theme)
    candidates = [s for s in _sentences(text) if not has_personal_data(s)]
    if not candidates:
        return None
    on_theme = [s for s in candidates if pattern is not None and pattern.search(s.lower())]
    return _cut((on_theme or candidates)[0])


def locate_quote(quote: str, text: str) -> str | None:
    """The span of `text` that `quote` copies, as `text` has it; None if it is not there.

    Exact first; then ignoring case, runs of spaces and curly-versus-straight quotes, mapped back to
    the original characters. A quote with a redaction label ("[email]") is never found.
    """
    quote = quote.strip().strip('"').strip()
    if not quote:
        return None
    if quote in text:
        return quote

    def norm(s: str) -> tuple[str, list[int]]:
        out: list[str] = []
        where: list[int] = []
        prev_space = False
        for i, ch in enumerate(s.translate(_QUOTES)):
            if ch.isspace():
                if prev_space:
                    continue
                ch, prev_space = " ", True
            else:
                prev_space = False
            out.append(ch.lower())
            where.append(i)
        return "".join(out), where

    hay, where = norm(text)
    needle, _ = norm(quote)
    at = hay.find(needle.strip())
    if at < 0:
        return None
    start, end = where[at], where[at + len(needle.strip()) - 1] + 1
    return text[start:end]


def check_model_summary(out: SummaryOut, comments: Sequence[CommentIn]) -> list[SummaryBullet]:
    """The model's bullets with quotes taken from the real comments; ValueError if any quote is not real."""
    by_id = {c.id: c for c in comments}
    bullets: list[SummaryBullet] = []
    seen_themes: set[str] = set()
    for b in out.bullets:
        comment = by_id.get(b.comment_id)
        if comment is None:
            raise ValueError("a bullet quotes a comment that is not in the week")
        quote = locate_quote(b.quote, comment.text)
        if quote is None:
            raise ValueError("a quote is not in the comment it names")
        if has_personal_data(quote):
            raise ValueError("a quote shows personal data")
        if b.theme in seen_themes:
            raise ValueError("two bullets on the same theme")
        seen_themes.add(b.theme)
        bullets.append(SummaryBullet(theme=b.theme, point=b.point, quote=quote, comment_id=comment.id))
    return bullets


def _theme_title(theme: str) -> str:
    return theme[:1].upper() + theme[1:]


def offline_summary(comments: Sequence[CommentIn], themes: ThemeSet) -> list[SummaryBullet]:
    """Up to three bullets: the most frequent themes, each with a verbatim quote from one of its comments."""
    tagged = []
    for c in comments:
        if not c.text or not c.text.strip():
            continue
        ts = [t for t in offline_themes(c.text, themes) if t != OTHER]
        tagged.append((c, ts, offline_sentiment(c.text, survey=c.survey, score=c.score)))
    counts: Counter[str] = Counter(t for _, ts, _ in tagged for t in ts)
    negatives: Counter[str] = Counter(t for _, ts, s in tagged for t in ts if s == "negative")
    order = {t: i for i, t in enumerate(themes.themes)}
    top = sorted(counts, key=lambda t: (-counts[t], -negatives[t], order.get(t, 99)))[:MAX_BULLETS]
    bullets: list[SummaryBullet] = []
    used: set[str] = set()
    for theme in top:
        n, neg = counts[theme], negatives[theme]
        pos = sum(1 for _, ts, s in tagged if theme in ts and s == "positive")
        mood = "mostly complaints" if neg > n / 2 else ("mostly praise" if pos > n / 2 else "mixed")
        point = (f"{_theme_title(theme)} came up in {n} comment{'s' if n != 1 else ''} "
                 f"({mood}: {neg} negative, {pos} positive).")
        # Quote a comment in the theme's prevailing mood, the shortest first (they read best), each once.
        want = "negative" if mood == "mostly complaints" else ("positive" if mood == "mostly praise" else None)
        pool = sorted((c for c, ts, s in tagged if theme in ts and c.id not in used),
                      key=lambda c: (0 if want is None or _sent(tagged, c) == want else 1, len(c.text)))
        for c in pool:
            quote = quote_for(c.text, theme, themes)
            if quote:
                used.add(c.id)
                bullets.append(SummaryBullet(theme=theme, point=point, quote=quote, comment_id=c.id))
                break
    return bullets


def _sent(tagged: list[tuple[CommentIn, list[str], str]], comment: CommentIn) -> str:
    return next(s for c, _, s in tagged if c is comment)
