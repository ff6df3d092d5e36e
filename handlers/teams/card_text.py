"""Text in Adaptive Cards: untrusted text never becomes markup.

Teams reads every `TextBlock` as Markdown (bold, italics, lists, links) and turns `<at>…</at>` into mentions,
and its clients disagree on backslash escapes. So text goes out in `RichTextBlock`/`TextRun`, which Teams never
reads as Markdown, with styling set by run properties. The only `TextBlock`s are lines that need a mention or a
date shown in the reader's own time zone (`{{DATE()}}`); there every Markdown character of the text is escaped
(a client that ignores the escape shows a stray backslash, never a link or a mention) and the only `<at>` tags
are the ones this module wrote. URLs in untrusted text are broken with an invisible word joiner so no client
turns them into links.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from bot.chat.messages import (
    Link,
    Mention,
    Span,
    Text,
    When,
)

CUT = "… ✂"
_WJ = "\u2060"  # word joiner: invisible, but no client sees a URL across it
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):(//)", re.IGNORECASE)
_WWW = re.compile(r"\bwww\.", re.IGNORECASE)
# Characters that can start Markdown (emphasis, links, code), a mention tag, an entity or a
# {{DATE()}} function anywhere in a TextBlock; list and heading markers only at a line's start.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>~&])")
_LIST_START = re.compile(r"^(\s*)(\d+)([.)])", re.MULTILINE)
_DASH_START = re.compile(r"^(\s*)([-+#>])", re.MULTILINE)
_NAME_UNSAFE = re.compile(r"[<>\[\]\\*_`~#|{}]")


# --- text ------------------------------------------------------------------------------------


def neutralize(text: str) -> str:
    """Make untrusted text inert as a link: no client sees a URL in it."""
    text = _SCHEME.sub(lambda m: m.group(1) + ":" + _WJ + m.group(2), text)
    return _WWW.sub("www" + _WJ + ".", text)


def md_escape(text: str) -> str:
    """Untrusted text for a Markdown TextBlock: every markup character escaped, links broken."""
    text = _MD_SPECIAL.sub(r"\\\1", neutralize(text))
    text = _LIST_START.sub(r"\1\2\\\3", text)
    return _DASH_START.sub(r"\1\\\2", text)


def mention_name(name: str) -> str:
    """A display name that is safe between `<at>` and `</at>`."""
    return _NAME_UNSAFE.sub("", name).strip() or "someone"


def cut(text: str, limit: int) -> str:
    """`text` within `limit` characters, with a visible marker when shortened."""
    return text if len(text) <= limit else text[: max(limit - len(CUT), 0)] + CUT


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _safe_url(url: str) -> str | None:
    return url if re.match(r"^https?://", url, re.IGNORECASE) else None


# --- rendering context -----------------------------------------------------------------------


@dataclass
class CardContext:
    """What one card collects while it is rendered: its mention entities."""

    entities: dict[str, dict[str, Any]] = field(default_factory=dict)

    def mention(self, person_id: str, name: str) -> str:
        shown = mention_name(name)
        text = f"<at>{shown}</at>"
        known = self.entities.get(text)
        if known is not None and known["mentioned"]["id"] != person_id:
            # Two people with the same display name: the second one is not linked rather than misdirected.
            return md_escape(shown)
        self.entities[text] = {"type": "mention", "text": text, "mentioned": {"id": person_id, "name": shown}}
        return text


def _lines(items: list[Span]) -> list[list[Span]]:
    """Split spans into lines at the newlines inside text spans."""
    out: list[list[Span]] = [[]]
    for s in items:
        if isinstance(s, Text) and "\n" in s.text:
            parts = s.text.split("\n")
            for i, part in enumerate(parts):
                if i:
                    out.append([])
                if part:
                    out[-1].append(Text(text=part, style=s.style))
        else:
            out[-1].append(s)
    return out


def _needs_markdown(line: list[Span]) -> bool:
    return any((isinstance(s, Mention) and s.person.teams_user_id) or isinstance(s, When) for s in line)


def text_run(text: str, style: str = "plain", **props: Any) -> dict[str, Any]:
    run: dict[str, Any] = {"type": "TextRun", "text": neutralize(text)}
    if style == "bold":
        run["weight"] = "Bolder"
    elif style == "italic":
        run["italic"] = True
    elif style == "code":
        run["fontType"] = "Monospace"
    run.update(props)
    return run


def _runs(line: list[Span], **props: Any) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    for s in line:
        if isinstance(s, Text):
            if s.text:
                runs.append(text_run(s.text, s.style, **props))
        elif isinstance(s, Mention):
            runs.append(text_run(s.person.label, "bold", **props))
        elif isinstance(s, Link):
            url = _safe_url(s.url)
            run = text_run(s.label, **props)
            if url:
                run["selectAction"] = {"type": "Action.OpenUrl", "url": url}
            runs.append(run)
        elif isinstance(s, When):
            runs.append(text_run(s.fallback, **props))
    return runs


def _markdown(line: list[Span], card: CardContext) -> str:
    parts: list[str] = []
    for s in line:
        if isinstance(s, Text):
            if not s.text:
                continue
            text = md_escape(s.text)
            if s.style == "bold" and s.text.strip():
                text = f"**{text}**"
            elif s.style == "italic" and s.text.strip():
                text = f"_{text}_"
            parts.append(text)
        elif isinstance(s, Mention):
            if s.person.teams_user_id:
                parts.append(card.mention(s.person.teams_user_id, s.person.label))
            else:
                parts.append(f"**{md_escape(s.person.label)}**")
        elif isinstance(s, Link):
            url = _safe_url(s.url)
            label = md_escape(s.label)
            parts.append(f"[{label}]({url})" if url else label)
        elif isinstance(s, When):
            # Shown in the reader's own time zone and language by the Teams client.
            parts.append(f"{{{{DATE({_iso(s.epoch)}, SHORT)}}}} {{{{TIME({_iso(s.epoch)})}}}}")
    return "".join(parts)


def line_element(line: list[Span], card: CardContext, **props: Any) -> dict[str, Any] | None:
    """One line of spans as a TextBlock (mentions, dates) or a RichTextBlock (everything else)."""
    if _needs_markdown(line):
        text = _markdown(line, card)
        if not text.strip():
            return None
        block: dict[str, Any] = {"type": "TextBlock", "text": text, "wrap": True}
        if props.get("size"):
            block["size"] = props["size"]
        if props.get("isSubtle"):
            block["isSubtle"] = True
        if props.get("weight"):
            block["weight"] = props["weight"]
        return block
    runs = _runs(line, **props)
    if not any(r["text"].strip() for r in runs):
        return None
    return {"type": "RichTextBlock", "inlines": runs}


def span_elements(items: list[Span], card: CardContext, **props: Any) -> list[dict[str, Any]]:
    out = []
    for line in _lines(items):
        el = line_element(line, card, **props)
        if el is not None:
            if out:
                el["spacing"] = "None"
            out.append(el)
    return out
