"""Shows Slack messages, as the Web API stand-in received them, readably in a terminal."""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.text import Text

_DATE = re.compile(r"<!date\^(\d+)\^[^|>]*\|([^>]*)>")
_USER = re.compile(r"<@([UW][A-Z0-9]+)>")
_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")


def mrkdwn_to_text(s: str, names: dict[str, str]) -> str:
    """Slack mrkdwn as a person would read it (mentions by name, dates in UTC, entities decoded)."""
    s = _DATE.sub(lambda m: datetime.fromtimestamp(int(m.group(1)), tz=timezone.utc).strftime("%a %d %b %H:%M UTC"), s)
    s = _USER.sub(lambda m: "@" + names.get(m.group(1), m.group(1)), s)
    s = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", s)
    s = s.replace("\u2060", "")
    return html.unescape(s)


def _styled(s: str) -> Text:
    """Bold for *x*, italic for _x_; everything else as is."""
    out = Text()
    for part in re.split(r"(\*[^*\n]+\*|_[^_\n]+_)", s):
        if len(part) > 2 and part[0] == part[-1] == "*":
            out.append(part[1:-1], style="bold")
        elif len(part) > 2 and part[0] == part[-1] == "_":
            out.append(part[1:-1], style="italic")
        else:
            out.append(part)
    return out


def block_kit(blocks: list[dict[str, Any]], names: dict[str, str]) -> list[Text]:
    lines: list[Text] = []
    for b in blocks:
        t = b.get("type")
        if t == "header":
            lines.append(Text(b["text"]["text"], style="bold"))
        elif t == "section":
            if "text" in b:
                body = mrkdwn_to_text(b["text"]["text"], names)
                if body.startswith("> "):
                    lines.append(Text("\n".join("│ " + ln[2:] for ln in body.split("\n")), style="cyan"))
                else:
                    lines.append(_styled(body))
            fields = [mrkdwn_to_text(f["text"], names).replace("\n", ": ", 1) for f in b.get("fields", [])]
            for i in range(0, len(fields), 2):
                lines.append(_styled("   ".join(fields[i:i + 2])))
        elif t == "context":
            lines.append(Text(" ".join(mrkdwn_to_text(e.get("text", ""), names) for e in b["elements"]), style="dim"))
        elif t == "divider":
            lines.append(Text("─" * 40, style="dim"))
        elif t == "actions":
            buttons = []
            for e in b["elements"]:
                label = e.get("text", {}).get("text") or e.get("placeholder", {}).get("text", "")
                buttons.append(f"[ {label} ▾ ]" if e["type"].endswith("select") else f"[ {label} ]")
            lines.append(Text("  ".join(buttons), style="bold magenta"))
        elif t == "input":
            lines.append(Text(f"✎ {b['label']['text']}" + ("" if b.get("optional") else " *"), style="yellow"))
    return lines


def call_panel(method: str, body: dict[str, Any], names: dict[str, str], channels: dict[str, str]) -> Panel:
    """One Web API call as a framed message."""
    channel = body.get("channel", "")
    where = channels.get(channel, "DM" if str(channel).startswith("D") else channel)
    if method == "views.open" or method == "views.publish":
        view = body.get("view", {})
        title = view.get("title", {}).get("text", "Home" if method == "views.publish" else "")
        return Panel(Group(*block_kit(view.get("blocks", []), names)),
                     title=f"[b]{'modal' if method == 'views.open' else 'App Home'}[/b] · {title}", border_style="yellow")
    kind = {"chat.postMessage": "posted", "chat.update": "edited", "chat.postEphemeral": "only you can see this"}.get(
        method, method)
    if body.get("thread_ts") and method == "chat.postMessage":
        kind = "thread reply"
    content = block_kit(body.get("blocks") or [], names) or [Text(mrkdwn_to_text(body.get("text", ""), names))]
    style = {"posted": "green", "edited": "blue", "thread reply": "white"}.get(kind, "magenta")
    return Panel(Group(*content), title=f"[b]{where}[/b] · {kind}", border_style=style, expand=False, width=100)
