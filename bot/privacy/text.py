"""What identifies a customer in free text, and scrubbing it out of messages, payloads and notes.

A `Fingerprint` is built from what is held about one customer (or a batch of responses, for a
retention window) before it is removed, and matched on words, so spacing, case and punctuation do
not hide a copy:

- anywhere (`mentions`): their email and customer id, their full name (two words or more), a phone
  number found in their answers, a run of RUN words from their comment or a note on their case, or
  the whole of a short comment or note;
- in their own messages (`own`, the messages of their cases): also a one-word name, their masked
  email (d…@example.com), any run of OWN_RUN words, and every quote;
- a `Quote` block anywhere (`quotes_them`): a quote cut from their comment, as digests, shout-outs
  and the assistant's summaries cut them (at least QUOTE_CHARS long, or the whole comment).

A matching string is replaced whole, never patched: what is left of a sentence that held a name can
still say who it was. Messages are the neutral models of bot/chat/messages.py, stored as JSON.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

ERASED = "details erased on request"
EXPIRED = "details removed after the retention period"

RUN = 8          # words in a row from their comment that mark a copy anywhere
OWN_RUN = 4      # ... in the messages of their own cases
SHORT = 3        # a comment or note this short (in words) or longer is matched whole
QUOTE_CHARS = 20  # a quote shorter than this must be the whole comment to be theirs

_WORD = re.compile(r"\w+")
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,5}\)[ .-]?)?\d{2,15}(?:[ .-]\d{2,15}){0,5}(?!\w)")
PHONE_DIGITS = 9  # phones compare on their last nine digits: +44 7700 900123 is 07700 900123
# Keys of a neutral message (and of the JSON around it) whose values are never people's words.
_STRUCTURAL = {"kind", "t", "el", "style", "action", "url", "epoch", "filename", "png_base64", "slack_user_id",
               "teams_user_id", "member_id", "input", "callback", "cut_from", "value", "is_next", "done", "broadcast"}


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def joined(text: str) -> str:
    """`text` as its words, lower-cased, one space apart (the form quotes are compared in)."""
    return " ".join(words(text.rstrip("…")))


def phones(text: str) -> set[str]:
    """The phone numbers in `text`, by their last PHONE_DIGITS digits."""
    out = set()
    for m in _PHONE.finditer(text or ""):
        digits = re.sub(r"\D", "", m.group(0))
        if 9 <= len(digits) <= 15 and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", m.group(0).strip()):
            out.add(digits[-PHONE_DIGITS:])
    return out


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}…@{domain}"


def _grams(toks: list[str], n: int) -> Iterable[tuple[str, ...]]:
    return (tuple(toks[i:i + n]) for i in range(len(toks) - n + 1))


@dataclass
class Fingerprint:
    """The marks of one customer (or several) in text; see the module docstring."""

    strong: dict[int, set[tuple[str, ...]]] = field(default_factory=dict)
    weak: dict[int, set[tuple[str, ...]]] = field(default_factory=dict)
    phone_ends: set[str] = field(default_factory=set)
    comments: list[str] = field(default_factory=list)  # joined()

    def _add(self, table: dict[int, set[tuple[str, ...]]], toks: list[str] | tuple[str, ...]) -> None:
        if toks:
            table.setdefault(len(toks), set()).add(tuple(toks))

    def add_identity(self, *, name: str | None = None, email: str | None = None,
                     customer_id: str | None = None) -> None:
        if name:
            toks = words(name)
            self._add(self.strong if len(toks) >= 2 else self.weak, toks)
        if email:
            self._add(self.strong, words(email))
            if "@" in email:
                self._add(self.weak, words(mask_email(email)))
        if customer_id:
            self._add(self.strong if len(customer_id.strip()) >= 4 else self.weak, words(customer_id))

    def add_phones(self, text: str | None) -> None:
        self.phone_ends |= phones(text or "")

    def add_words(self, text: str | None, *, comment: bool) -> None:
        """A comment of theirs (or a note about them): its runs of words, and itself if it is short."""
        if not text or not text.strip():
            return
        toks = words(text)
        if comment:
            self.comments.append(" ".join(toks))
        if len(toks) < RUN:
            # Short: matched whole (notes only when long enough to be unlikely anywhere else).
            if len(toks) >= (SHORT if comment else 5):
                self._add(self.strong, toks)
        else:
            for g in _grams(toks, RUN):
                self._add(self.strong, g)
        for g in _grams(toks, min(OWN_RUN, len(toks))):
            self._add(self.weak, g)
        self.add_phones(text)

    def add_raw(self, raw: Any) -> None:
        """Emails and phone numbers anywhere in a survey tool's raw payload."""
        for s in strings(raw):
            self.add_phones(s)
            for e in re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", s):
                self.add_identity(email=e)

    @property
    def empty(self) -> bool:
        return not (self.strong or self.weak or self.phone_ends or self.comments)

    def mentions(self, text: str | None, *, own: bool = False) -> bool:
        """Whether `text` holds one of the marks (`own`: the weaker ones count too)."""
        if not text:
            return False
        toks = words(text)
        if toks:
            for table in ((self.strong, self.weak) if own else (self.strong,)):
                for n, grams in table.items():
                    if n <= len(toks) and any(g in grams for g in _grams(toks, n)):
                        return True
        return bool(self.phone_ends) and any(c.isdigit() for c in text) and bool(phones(text) & self.phone_ends)

    def quotes_them(self, text: str | None) -> bool:
        """Whether a quote (a `Quote` block's text) was cut from one of their comments."""
        q = joined(text or "")
        if not q:
            return False
        return any(q == c or (len(q) >= QUOTE_CHARS and q in c) for c in self.comments)


def strings(obj: Any) -> Iterable[str]:
    """Every string in a JSON value."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from strings(v)


def _gone_block(marker: str) -> dict[str, Any]:
    # A quote becomes a line of context: the message no longer shows anyone's words.
    return {"kind": "context", "spans": [{"t": "text", "text": f"🔒 {marker}", "style": "italic"}]}


def scrub(obj: Any, fp: Fingerprint, marker: str, *, own: bool = False,
          every_quote: bool | None = None) -> tuple[Any, bool]:
    """`obj` (a stored message or any JSON) with every string that marks them replaced by `marker` and
    every quote of theirs (every quote, in their `own` messages) replaced by a line saying so.
    `every_quote` (default: `own`) False keeps the quotes that are not theirs (removing only details).
    Returns (the new value, whether anything changed)."""
    changed = False
    all_quotes = own if every_quote is None else (own and every_quote)

    def walk(node: Any, key: str | None = None) -> Any:
        nonlocal changed
        if isinstance(node, str):
            if key not in _STRUCTURAL and node != marker and fp.mentions(node, own=own):
                changed = True
                return marker
            return node
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, dict):
            if node.get("kind") == "quote" and isinstance(node.get("text"), str):
                text = node["text"]
                if all_quotes or fp.quotes_them(text) or fp.mentions(text, own=own):
                    changed = True
                    return _gone_block(marker)
            return {k: walk(v, k) for k, v in node.items()}
        return node

    out = walk(obj)
    return out, changed


def scrub_text(text: str | None, fp: Fingerprint, marker: str, *, own: bool = False) -> str | None:
    """A free-text field (a note, a shout-out, a story): `marker` if it marks them, else unchanged."""
    if text and text != marker and (fp.mentions(text, own=own) or fp.quotes_them(text)):
        return marker
    return text


def shows_quote(payload: Any) -> bool:
    """Whether a stored message quotes anyone (a `Quote` block)."""
    if isinstance(payload, dict):
        if payload.get("kind") == "quote":
            return True
        return any(shows_quote(v) for v in payload.values())
    if isinstance(payload, list):
        return any(shows_quote(v) for v in payload)
    return False
