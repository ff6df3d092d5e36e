"""Pure renderers: neutral messages and forms to Block Kit, inside Slack's limits.

Untrusted text is escaped (&, <, >) so it can never form a mention, a channel link or a URL
link, special @-words are broken with an invisible joiner, and mrkdwn text is sent `verbatim` so
Slack does not turn bare URLs or channel names into links.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bot.chat.messages import (
    Actions,
    Block,
    Button,
    CheckboxInput,
    Checklist,
    ChoiceInput,
    Context,
    DateTimeInput,
    Divider,
    Fields,
    Form,
    Header,
    Image,
    Link,
    Mention,
    Message,
    Picker,
    Quote,
    Section,
    Span,
    Text,
    TextInput,
    UserInput,
    UserPicker,
    When,
)

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_FIELD = 2000
MAX_FIELDS = 10
MAX_CONTEXT = 2000
MAX_HEADER = 150
MAX_BUTTON = 75
MAX_VALUE = 2000
MAX_ACTIONS = 25
MAX_TEXT = 3000  # the notification text; Slack allows more but truncates display long before
MAX_TITLE = 24
MAX_METADATA = 3000
MAX_OPTION_TEXT = 75
CUT = "… ✂"

_WJ = "\u2060"  # word joiner: invisible, but stops Slack seeing a special word or a URL
_SPECIAL = re.compile(r"@(here|channel|everyone|group)\b", re.IGNORECASE)
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):(//)", re.IGNORECASE)
_WWW = re.compile(r"\bwww\.", re.IGNORECASE)


def neutralize(text: str) -> str:
    """Make untrusted text inert: no broadcasts, no links, no mentions."""
    text = _SPECIAL.sub(lambda m: "@" + _WJ + m.group(1), text)
    text = _SCHEME.sub(lambda m: m.group(1) + ":" + _WJ + m.group(2), text)
    text = _WWW.sub("www" + _WJ + ".", text)
    return text


def escape(text: str) -> str:
    """Slack's three control characters, escaped as its docs require."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def safe(text: str) -> str:
    return escape(neutralize(text))


def cut(text: str, limit: int) -> str:
    """`text` within `limit` characters, with a visible marker when shortened; never splits an entity."""
    if len(text) <= limit:
        return text
    head = text[: limit - len(CUT)]
    amp = head.rfind("&")
    if amp != -1 and ";" not in head[amp:]:
        head = head[:amp]
    return head + CUT


def split(text: str, limit: int) -> list[str]:
    """Split long escaped text into pieces within `limit`, at line breaks where possible."""
    pieces: list[str] = []
    while len(text) > limit:
        at = text.rfind("\n", 0, limit)
        if at < limit // 2:
            at = limit
            amp = text.rfind("&", 0, at)
            if amp != -1 and ";" not in text[amp:at]:
                at = amp
        pieces.append(text[:at])
        text = text[at:].lstrip("\n")
    pieces.append(text)
    return pieces


def _style(text: str, style: str) -> str:
    marker = {"bold": "*", "italic": "_", "code": "`"}.get(style)
    core = text.strip()
    if marker is None or not core:
        return text
    # Slack reads `*word *` as literal asterisks: the markers must touch the words, so the spaces
    # around them stay outside.
    lead, trail = text[:len(text) - len(text.lstrip())], text[len(text.rstrip()):]
    return f"{lead}{marker}{core}{marker}{trail}"


def span(s: Span) -> str:
    if isinstance(s, Text):
        return _style(safe(s.text), s.style)
    if isinstance(s, Mention):
        if s.person.slack_user_id and re.fullmatch(r"[UW][A-Z0-9]{2,}", s.person.slack_user_id):
            return f"<@{s.person.slack_user_id}>"
        return safe(s.person.label)
    if isinstance(s, Link):
        return f"<{s.url}|{safe(s.label)}>"
    if isinstance(s, When):
        return f"<!date^{s.epoch}^{{date_short_pretty}} at {{time}}|{safe(s.fallback)}>"
    raise TypeError(type(s))


def spans(items: list[Span]) -> str:
    return "".join(span(s) for s in items)


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": cut(text, limit) or " ", "emoji": True}


def _sections(text: str) -> list[dict[str, Any]]:
    return [{"type": "section", "text": _mrkdwn(p)} for p in split(text, MAX_SECTION) if p]


def _quote(q: Quote) -> list[dict[str, Any]]:
    lines = safe(q.text).split("\n")
    text = "\n".join("> " + line for line in lines)
    if q.cut_from:
        text += " " + CUT
    return _sections(text)


def _checklist(c: Checklist) -> list[dict[str, Any]]:
    lines = [f"*{safe(c.title)}*"]
    for item in c.items:
        mark = "✅" if item.done else ("👉" if item.is_next else "⬜")
        line = f"{mark} {'*' + safe(item.title) + '*' if item.is_next else safe(item.title)}"
        if item.done:
            bits = []
            if item.by:
                bits.append(span(Mention(person=item.by)))
            if item.epoch:
                bits.append(span(When(epoch=item.epoch, fallback="")).replace("|>", "|done>"))
            line += " — " + " · ".join(bits) if bits else ""
            if item.note:
                line += "\n      _" + safe(cut(item.note, 500)) + "_"
        lines.append(line)
    return _sections("\n".join(lines))


def _button(b: Button, action_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "button", "action_id": action_id, "text": _plain(b.label, MAX_BUTTON),
                           "value": json.dumps(b.value, separators=(",", ":"))[:MAX_VALUE]}
    if b.style:
        out["style"] = b.style
    if b.confirm:
        out["confirm"] = {"title": _plain("Are you sure?", 100), "text": _plain(b.confirm, 300),
                          "confirm": _plain("Yes", 30), "deny": _plain("Cancel", 30)}
    return out


def _actions(a: Actions) -> dict[str, Any]:
    elements = []
    used: dict[str, int] = {}
    block_ctx: dict[str, Any] = {}
    for el in a.elements[:MAX_ACTIONS]:
        n = used.get(el.action, 0)
        used[el.action] = n + 1
        action_id = el.action if n == 0 else f"{el.action}:{n}"
        if isinstance(el, Button):
            elements.append(_button(el, action_id))
        elif isinstance(el, UserPicker):
            elements.append({"type": "users_select", "action_id": action_id,
                             "placeholder": _plain(el.placeholder, 150)})
            block_ctx.update(el.value)
        elif isinstance(el, Picker):
            elements.append({"type": "static_select", "action_id": action_id, "placeholder": _plain(el.placeholder, 150),
                             "options": [{"text": _plain(o.label, MAX_OPTION_TEXT), "value": o.value[:150]}
                                         for o in el.options[:100]]})
            block_ctx.update(el.value)
    block: dict[str, Any] = {"type": "actions", "elements": elements}
    if block_ctx:
        # Selects carry no value of their own: the block id carries their context.
        block["block_id"] = "ctx:" + json.dumps(block_ctx, separators=(",", ":"))[:250]
    return block


def block(b: Block) -> list[dict[str, Any]]:
    if isinstance(b, Header):
        return [{"type": "header", "text": _plain(b.text, MAX_HEADER)}]
    if isinstance(b, Section):
        return _sections(spans(b.spans))
    if isinstance(b, Fields):
        fields = [_mrkdwn(cut(f"*{safe(f.label)}*\n{spans(f.value)}", MAX_FIELD)) for f in b.items]
        return [{"type": "section", "fields": fields[i:i + MAX_FIELDS]} for i in range(0, len(fields), MAX_FIELDS)]
    if isinstance(b, Quote):
        return _quote(b)
    if isinstance(b, Context):
        return [{"type": "context", "elements": [_mrkdwn(cut(spans(b.spans), MAX_CONTEXT))]}]
    if isinstance(b, Divider):
        return [{"type": "divider"}]
    if isinstance(b, Checklist):
        return _checklist(b)
    if isinstance(b, Actions):
        return [_actions(b)]
    if isinstance(b, Image):
        return []  # uploaded as a file beside the message
    raise TypeError(type(b))


def blocks(items: list[Block]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for b in items:
        out.extend(block(b))
    if len(out) > MAX_BLOCKS:
        # Never silently: say what was left out. Callers page long content before it gets here.
        hidden = len(out) - (MAX_BLOCKS - 1)
        out = out[: MAX_BLOCKS - 1] + [{"type": "context", "elements": [
            _mrkdwn(f"✂ {hidden} more block(s) did not fit in one Slack message.")]}]
    return out


def message(m: Message) -> dict[str, Any]:
    """Arguments for chat.postMessage / chat.update."""
    return {"text": cut(safe(m.text), MAX_TEXT), "blocks": blocks(m.blocks)}


def modal(f: Form) -> dict[str, Any]:
    """A Slack modal view for a form."""
    view_blocks = blocks(f.intro)
    for i in f.inputs:
        element: dict[str, Any]
        if isinstance(i, TextInput):
            element = {"type": "plain_text_input", "action_id": "value", "multiline": i.multiline,
                       "max_length": min(i.max_length, 3000)}
            if i.placeholder:
                element["placeholder"] = _plain(i.placeholder, 150)
            if i.initial:
                element["initial_value"] = i.initial[: element["max_length"]]
        elif isinstance(i, ChoiceInput):
            element = {"type": "static_select", "action_id": "value", "placeholder": _plain("Choose…", 150),
                       "options": [{"text": _plain(o.label, MAX_OPTION_TEXT), "value": o.value} for o in i.options]}
            if i.initial:
                match = [o for o in i.options if o.value == i.initial]
                if match:
                    element["initial_option"] = {"text": _plain(match[0].label, MAX_OPTION_TEXT), "value": match[0].value}
        elif isinstance(i, CheckboxInput):
            element = {"type": "checkboxes", "action_id": "value",
                       "options": [{"text": _plain(i.option, MAX_OPTION_TEXT), "value": "yes"}]}
        elif isinstance(i, DateTimeInput):
            element = {"type": "datetimepicker", "action_id": "value"}
            if i.initial_epoch:
                element["initial_date_time"] = i.initial_epoch
        elif isinstance(i, UserInput):
            element = {"type": "users_select", "action_id": "value", "placeholder": _plain("Choose someone", 150)}
        else:  # pragma: no cover - exhaustive
            raise TypeError(type(i))
        view_blocks.append({"type": "input", "block_id": i.id, "optional": not i.required,
                            "label": _plain(i.label, 2000), "element": element})
    return {"type": "modal", "callback_id": f.callback, "title": _plain(f.title, MAX_TITLE),
            "submit": _plain(f.submit, MAX_TITLE), "close": _plain("Cancel", MAX_TITLE),
            "private_metadata": json.dumps(f.metadata, separators=(",", ":"))[:MAX_METADATA],
            "blocks": view_blocks[:100]}


def form_values(f_inputs: list[Any], state: dict[str, Any]) -> dict[str, Any]:
    """Read a submitted modal's state back into {input id: value}."""
    out: dict[str, Any] = {}
    for i in f_inputs:
        v = (state.get(i.id) or {}).get("value") or {}
        if isinstance(i, TextInput):
            out[i.id] = v.get("value")
        elif isinstance(i, ChoiceInput):
            out[i.id] = (v.get("selected_option") or {}).get("value")
        elif isinstance(i, CheckboxInput):
            out[i.id] = bool(v.get("selected_options"))
        elif isinstance(i, DateTimeInput):
            out[i.id] = v.get("selected_date_time")
        elif isinstance(i, UserInput):
            out[i.id] = v.get("selected_user")
    return out
