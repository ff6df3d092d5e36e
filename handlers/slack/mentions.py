"""Slack's markup in a typed command, turned into what the core reads (bot/chat/mentions.py).

With `should_escape` on, Slack sends what someone typed with its markup: `<@U123|bob>` for a person
picked from the list, `<#C123|support>` for a channel, `<!here>` for a broadcast, `<https://…|label>`
for a link, and `&`, `<`, `>` escaped. People become member tokens (someone new to cxloop is added,
as everywhere), channels become channel tokens, and the rest becomes the words a reader saw.
"""

from __future__ import annotations

import re

from sqlmodel import Session

from bot.chat import mentions
from bot.people.roster import member_by_slack

_MARKUP = re.compile(r"<([@#!])?([^<>|]*)(?:\|([^<>]*))?>")
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,}")
_SLACK_CHANNEL = re.compile(r"[CG][A-Z0-9]{2,}")


def command_text(session: Session, text: str) -> str:
    """A `/cx` line as the core reads it."""
    def one(m: re.Match[str]) -> str:
        sigil, body, label = m.group(1), m.group(2), m.group(3)
        if sigil == "@" and _SLACK_USER.fullmatch(body):
            member = member_by_slack(session, body)  # someone new to cxloop is added, as a click would
            if label and not member.name:
                member.name = label  # what Slack showed; the profile and the YAML say better later
            assert member.id is not None
            return mentions.person(member.id)
        if sigil == "#" and _SLACK_CHANNEL.fullmatch(body):
            return mentions.channel("slack", body, label)
        if sigil == "@":
            return "@" + (label or "someone")
        if sigil == "#":
            return "#" + (label or "channel")
        if sigil == "!":
            if body.startswith("subteam^"):
                return label or "@group"
            if body.startswith("date^"):
                return label or ""
            return "@" + body  # here, channel, everyone
        return f"{label} ({body})" if label and label != body else (label or body)

    typed = mentions.clean(text)
    # Markup first, on Slack's escaped text (where a typed "<" is "&lt;" and cannot look like markup);
    # then Slack's three escapes, and only those, so nothing typed can become a token's delimiter.
    words = _MARKUP.sub(one, typed)
    return words.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()
