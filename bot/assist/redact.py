"""Redaction: personal data is removed from every text before it leaves for a model.

Emails, phone numbers and card-like numbers (13–19 digits, with or without spaces or dashes) are
replaced by a bracketed label. Card-like runs are redacted whether or not they pass the Luhn check:
an account or card number that fails it is still nobody else's business. Over-redacting a long
reference number costs nothing; the model never needs it.
"""

from __future__ import annotations

import re

EMAIL = "[email]"
PHONE = "[phone]"
CARD = "[card number]"

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# A run of digits with single spaces or dashes between groups: 13–19 digits is card-like.
_DIGIT_RUN = re.compile(r"(?<![\w+])\d(?:[ -]?\d){7,22}(?!\w)")
# Phones: an optional +CC, an area code in brackets, digit groups joined by one space, dot or dash
# (so "It's been 19. 0800…" is not one number).
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,5}\)[ .-]?)?\d{2,15}(?:[ .-]\d{2,15}){0,5}(?!\w)")


def _digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


def luhn_ok(number: str) -> bool:
    """Whether the digits of `number` pass the Luhn check (as payment card numbers do)."""
    digits = [int(c) for c in number if c.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return bool(digits) and total % 10 == 0


def _cards(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        return CARD if 13 <= _digits(m.group(0)) <= 19 else m.group(0)

    return _DIGIT_RUN.sub(one, text)


def _phones(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        found = m.group(0)
        n = _digits(found)
        # Dates (2026-11-20), times and amounts have fewer digits or a shape no phone has.
        if n < 9 or n > 15 or re.fullmatch(r"\d{4}-\d{2}-\d{2}", found.strip()):
            return found
        return PHONE

    return _PHONE.sub(one, text)


def redact(text: str) -> str:
    """`text` with emails, card-like numbers and phone numbers replaced by labels."""
    if not text:
        return text
    return _phones(_cards(_EMAIL.sub(EMAIL, text)))


def has_personal_data(text: str) -> bool:
    """Whether `text` holds anything `redact` would remove."""
    return redact(text) != text
