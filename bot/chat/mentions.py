"""People and channels named in a command, as the core reads them: member ids, never a platform's markup.

Each adapter turns its platform's mentions into these tokens before the core sees a command line
(handlers/slack/mentions.py turns `<@U123|bob>` into a person token; the Teams adapter its mention
entities), so the core parses one syntax whichever chat a command came from. A token is delimited by
two private-use characters that no one types; adapters remove any that arrive in typed text before
adding their own, so a token in a command line was always put there by an adapter.
"""

from __future__ import annotations

import re
from collections.abc import Callable

OPEN, CLOSE = "\ue000", "\ue001"
_PERSON = re.compile(OPEN + r"person:(\d+)" + CLOSE)
_CHANNEL = re.compile(OPEN + r"channel:([a-z]+):([^|" + CLOSE + r"\s]+)(?:\|([^" + CLOSE + r"\s]*))?" + CLOSE)
_ANY = re.compile(OPEN + r"[^" + CLOSE + r"]*" + CLOSE)


def clean(text: str) -> str:
    """Typed text with the token delimiters removed: nobody can write a token themselves."""
    return text.replace(OPEN, "").replace(CLOSE, "")


def person(member_id: int) -> str:
    """The token for a member."""
    return f"{OPEN}person:{member_id}{CLOSE}"


def channel(platform: str, channel_id: str, name: str | None = None) -> str:
    """The token for a platform's channel (with its name, as readers saw it, when known)."""
    shown = f"|{re.sub(r'[^A-Za-z0-9_.-]', '', name)}" if name else ""
    return f"{OPEN}channel:{platform}:{channel_id}{shown}{CLOSE}"


def person_id(token: str) -> int | None:
    """The member id a whole token names, or None when it is not a person token."""
    m = _PERSON.fullmatch(token.strip())
    return int(m.group(1)) if m else None


def leading_person(text: str) -> tuple[int, str] | None:
    """(member id, the rest) when `text` starts with a person token."""
    m = _PERSON.match(text.strip())
    if m is None:
        return None
    return int(m.group(1)), text.strip()[m.end():].lstrip(" ,:;.!-")


def channel_of(token: str) -> tuple[str, str] | None:
    """(platform, channel id) a whole token names, or None when it is not a channel token."""
    m = _CHANNEL.fullmatch(token.strip())
    return (m.group(1), m.group(2)) if m else None


def readable(text: str, name_of: Callable[[int], str | None]) -> str:
    """`text` as its readers saw it: each person as "@Name", each channel as "#id"."""
    text = _PERSON.sub(lambda m: "@" + (name_of(int(m.group(1))) or "someone"), text)
    text = _CHANNEL.sub(lambda m: "#" + (m.group(3) or m.group(2)), text)
    # Adapters set tokens apart with spaces; a reader saw one.
    return re.sub(r"(?<=\S) {2,}(?=\S)", " ", _ANY.sub("", text))
