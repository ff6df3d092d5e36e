"""Pure renderers: neutral messages and forms to Adaptive Cards 1.5, inside Microsoft Teams' limits.

Untrusted text never becomes markup. Teams reads every `TextBlock` as Markdown (bold, italics,
lists, links) and turns `<at>…</at>` into mentions, and its clients disagree on backslash escapes.
So text goes out in `RichTextBlock`/`TextRun`, which Teams never reads as Markdown, and styling is
set with run properties. The only `TextBlock`s are lines that need a mention or a date shown in the
reader's own time zone (`{{DATE()}}`); there every Markdown character of the text is escaped
(a client that ignores the escape shows a stray backslash, never a link or a mention) and the only
`<at>` tags are the ones this module wrote. URLs in untrusted text are broken with an invisible word
joiner so no client turns them into links.

Teams refuses messages over about 28 KB (card, text and entities together): `message_cards` packs
a long message into several cards, cuts a single over-long quote with a visible ✂ marker, and
shrinks an inline picture (a `data:` URI) to fit, or says it could not.
"""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from bot.chat.messages import (
    Actions,
    Block,
    Button,
    Checklist,
    CheckboxInput,
    ChoiceInput,
    Context,
    DateTimeInput,
    Divider,
    Fields,
    Form,
    FormInput,
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

CARD_VERSION = "1.5"
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
# Teams' limit is 28 KB for the whole activity; the card gets this much, the envelope the rest.
MAX_CARD_BYTES = 26_000
MAX_ACTIVITY_BYTES = 28 * 1024
MAX_SUMMARY = 200
MAX_QUOTE_LINES = 60
MAX_NOTE = 500
MAX_TITLE = 80  # button titles: Teams truncates long ones anyway
CUT = "… ✂"
IMAGE_ROOM = 12_000  # the least a page keeps for an inline chart; smaller would be unreadable

# The keys a card action's data carries; Teams merges input values into the same object, so these
# are namespaced away from any input id.
ACTION_KEY = "cxAction"
VALUE_KEY = "cxValue"
PICK_KEY = "cxPick"
CONFIRM_KEY = "cxConfirm"
FORM_KEY = "cxForm"
META_KEY = "cxMeta"

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
class _Card:
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


def _run(text: str, style: str = "plain", **props: Any) -> dict[str, Any]:
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
                runs.append(_run(s.text, s.style, **props))
        elif isinstance(s, Mention):
            runs.append(_run(s.person.label, "bold", **props))
        elif isinstance(s, Link):
            url = _safe_url(s.url)
            run = _run(s.label, **props)
            if url:
                run["selectAction"] = {"type": "Action.OpenUrl", "url": url}
            runs.append(run)
        elif isinstance(s, When):
            runs.append(_run(s.fallback, **props))
    return runs


def _markdown(line: list[Span], card: _Card) -> str:
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


def _line(line: list[Span], card: _Card, **props: Any) -> dict[str, Any] | None:
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


def _span_lines(items: list[Span], card: _Card, **props: Any) -> list[dict[str, Any]]:
    out = []
    for line in _lines(items):
        el = _line(line, card, **props)
        if el is not None:
            if out:
                el["spacing"] = "None"
            out.append(el)
    return out


# --- blocks ----------------------------------------------------------------------------------


def _fields(b: Fields, card: _Card) -> list[dict[str, Any]]:
    rows = []
    items = b.items
    for i in range(0, len(items), 2):
        columns = []
        for f in items[i:i + 2]:
            cell = [{"type": "RichTextBlock", "inlines": [_run(f.label, "bold", isSubtle=True, size="Small")]}]
            value = _span_lines(f.value, card) or [{"type": "RichTextBlock", "inlines": [_run("—")]}]
            value[0]["spacing"] = "None"
            columns.append({"type": "Column", "width": "stretch", "items": cell + value})
        if len(columns) == 1:
            columns.append({"type": "Column", "width": "stretch", "items": []})
        rows.append({"type": "ColumnSet", "columns": columns})
    return rows


def _quote(q: Quote) -> list[dict[str, Any]]:
    lines = q.text.split("\n")
    if len(lines) > MAX_QUOTE_LINES:
        # A comment of many short lines: keep every word, fewer elements.
        lines = lines[: MAX_QUOTE_LINES - 1] + [" / ".join(lines[MAX_QUOTE_LINES - 1:])]
    items = []
    for line in lines:
        items.append({"type": "RichTextBlock", "spacing": "None", "inlines": [_run(line or " ", italic=True)]})
    if q.cut_from:
        items.append({"type": "RichTextBlock", "spacing": "Small",
                      "inlines": [_run(f"{CUT} ({q.cut_from:,} characters in all)", isSubtle=True, size="Small")]})
    return [{"type": "Container", "style": "emphasis", "items": items}]


def _checklist(c: Checklist, card: _Card) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [{"type": "RichTextBlock", "inlines": [_run(c.title, "bold")]}]
    for item in c.items:
        mark = "✅" if item.done else ("👉" if item.is_next else "⬜")
        items.append({"type": "RichTextBlock", "spacing": "Small",
                      "inlines": [_run(f"{mark} "), _run(item.title, "bold" if item.is_next else "plain")]})
        if item.done:
            # Who and when, without a mention: a checklist edit should not ping everyone again.
            bits: list[Span] = [Text(text="      ")]
            if item.by:
                bits.append(Text(text=item.by.label))
            if item.epoch:
                bits += [Text(text=" · " if item.by else ""), When(epoch=item.epoch, fallback="")]
            el = _line(bits, card, size="Small", isSubtle=True)
            if el is not None:
                el["spacing"] = "None"
                items.append(el)
            if item.note:
                items.append({"type": "RichTextBlock", "spacing": "None",
                              "inlines": [_run("      " + cut(item.note, MAX_NOTE), italic=True, isSubtle=True,
                                               size="Small")]})
    return [{"type": "Container", "items": items}]


def _submit(title: str, data: dict[str, Any], style: str | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {"type": "Action.Submit", "title": cut(title, MAX_TITLE), "data": data}
    if style == "primary":
        action["style"] = "positive"
    elif style == "danger":
        action["style"] = "destructive"
    return action


def element_data(el: Button | UserPicker | Picker) -> dict[str, Any]:
    """What a button carries: the action id and value; clicking opens a Teams dialog (task/fetch)."""
    data: dict[str, Any] = {"msteams": {"type": "task/fetch"}, ACTION_KEY: el.action, VALUE_KEY: dict(el.value)}
    if isinstance(el, Button) and el.confirm:
        data[CONFIRM_KEY] = el.confirm
    if isinstance(el, UserPicker):
        data[PICK_KEY] = {"kind": "user", "label": el.placeholder}
    if isinstance(el, Picker):
        data[PICK_KEY] = {"kind": "choice", "label": el.placeholder,
                          "options": [[o.value, o.label] for o in el.options[:100]]}
    return data


def _actions(a: Actions) -> list[dict[str, Any]]:
    actions = []
    for el in a.elements:
        style = el.style if isinstance(el, Button) else None
        label = el.label if isinstance(el, Button) else el.placeholder
        actions.append(_submit(label, element_data(el), style))
    return [{"type": "ActionSet", "actions": actions}] if actions else []


def block(b: Block, card: _Card) -> list[dict[str, Any]]:
    """The card elements for one neutral block (images are placed by `message_cards`)."""
    if isinstance(b, Header):
        return [{"type": "RichTextBlock", "inlines": [_run(b.text, "bold", size="Large")]}]
    if isinstance(b, Section):
        return _span_lines(b.spans, card)
    if isinstance(b, Fields):
        return _fields(b, card)
    if isinstance(b, Quote):
        return _quote(b)
    if isinstance(b, Context):
        return _span_lines(b.spans, card, size="Small", isSubtle=True)
    if isinstance(b, Divider):
        return []
    if isinstance(b, Checklist):
        return _checklist(b, card)
    if isinstance(b, Actions):
        return _actions(b)
    if isinstance(b, Image):
        return []
    raise TypeError(type(b))


# --- whole messages, within the size limit ---------------------------------------------------


def _card(body: list[dict[str, Any]], entities: list[dict[str, Any]]) -> dict[str, Any]:
    msteams: dict[str, Any] = {"width": "Full"}
    if entities:
        msteams["entities"] = entities
    return {"type": "AdaptiveCard", "$schema": SCHEMA, "version": CARD_VERSION, "body": body, "msteams": msteams}


def size_of(obj: Any) -> int:
    """Bytes of `obj` as JSON on the wire."""
    return len(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


@dataclass
class _Group:
    """The elements of one block (or a part of one), with the mentions they use."""

    elements: list[dict[str, Any]]
    entities: dict[str, dict[str, Any]]
    separator: bool = False
    image: Image | None = None

    @property
    def size(self) -> int:
        return size_of(self.elements) + size_of(list(self.entities.values()))


def _groups(m: Message) -> list[_Group]:
    groups: list[_Group] = []
    separator = False
    for b in m.blocks:
        if isinstance(b, Divider):
            separator = True
            continue
        if isinstance(b, Image):
            groups.append(_Group([], {}, separator, image=b))
            separator = False
            continue
        card = _Card()
        elements = block(b, card)
        if not elements:
            continue
        groups.append(_Group(elements, card.entities, separator))
        separator = False
    return groups


def _cut_group(g: _Group, budget: int) -> _Group:
    """Shorten the longest texts in `g` (with a visible marker) until it fits `budget` bytes."""
    elements = json.loads(json.dumps(g.elements))
    texts: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("TextRun", "TextBlock") and isinstance(node.get("text"), str):
                texts.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(elements)
    for _ in range(200):
        over = size_of(elements) + size_of(list(g.entities.values())) - budget
        if over <= 0 or not texts:
            break
        longest = max(texts, key=lambda t: len(t["text"]))
        keep = max(len(longest["text"]) - over - len(CUT) - 16, 0)
        if keep == 0 and longest["text"] == CUT:
            texts.remove(longest)
            continue
        if longest.get("type") == "TextBlock":
            # Never leave half an escape or half a tag behind.
            head = longest["text"][:keep]
            head = re.sub(r"\\$|<[^>]*$|\{\{[^}]*$", "", head)
            longest["text"] = head + CUT
        else:
            longest["text"] = longest["text"][:keep] + CUT
    return _Group(elements, g.entities, g.separator)


def shrink_png(png: bytes, max_bytes: int) -> bytes | None:
    """The picture re-encoded (fewer colours, then smaller) to at most `max_bytes`, or None."""
    if len(png) <= max_bytes:
        return png
    from PIL import Image as PILImage

    try:
        original = PILImage.open(io.BytesIO(png))
        original.load()
    except Exception:
        return None
    source = original.convert("RGB")
    for width in (source.width, 720, 600, 480, 400, 320, 240):
        if width > source.width:
            continue
        height = max(1, round(source.height * width / source.width))
        scaled = source if width == source.width else source.resize((width, height), PILImage.LANCZOS)
        for colours in (64, 16):
            buf = io.BytesIO()
            scaled.quantize(colors=colours, method=PILImage.Quantize.MEDIANCUT).save(buf, format="PNG", optimize=True)
            if buf.tell() <= max_bytes:
                return buf.getvalue()
            if buf.tell() > 2 * max_bytes:
                break  # fewer colours will not halve it: try a smaller picture
    return None


def _image_element(img: Image, budget: int) -> dict[str, Any] | None:
    """An inline `data:` URI image within `budget` bytes of card, or None if it cannot be made to fit."""
    overhead = size_of({"type": "Image", "url": "data:image/png;base64,", "altText": img.alt, "size": "Stretch"})
    max_png = (budget - overhead) * 3 // 4
    if max_png <= 1024:
        return None
    try:
        raw = base64.b64decode(img.png_base64, validate=True)
    except ValueError:
        return None
    png = shrink_png(raw, max_png)
    if png is None:
        return None
    return {"type": "Image", "url": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
            "altText": cut(img.alt, 1000), "size": "Stretch"}


def _note(text: str) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": [_run(text, isSubtle=True, size="Small", italic=True)]}


def message_cards(m: Message, *, max_bytes: int = MAX_CARD_BYTES) -> list[dict[str, Any]]:
    """The message as one card, or as several when it is too long for one Teams message (in order)."""
    groups = _groups(m)
    empty = size_of(_card([], []))
    room = max_bytes - empty - 200  # what one page holds, with room for its "Part n of m" note
    pages: list[tuple[list[_Group], int]] = [([], empty)]
    for g in groups:
        if g.image is not None:
            current, used = pages[-1]
            if current and used + IMAGE_ROOM > max_bytes:
                # Too little left on this page for a readable picture: it starts the next one.
                pages.append(([], empty))
                current, used = pages[-1]
            current.append(g)
            pages[-1] = (current, used + IMAGE_ROOM)
            continue
        if g.size > room:
            g = _cut_group(g, room)
        current, used = pages[-1]
        if current and used + g.size > max_bytes - 200:
            pages.append(([], empty))
            current, used = pages[-1]
        current.append(g)
        pages[-1] = (current, used + g.size)
    cards = []
    for n, (page, used) in enumerate(pages):
        body: list[dict[str, Any]] = []
        entities: dict[str, dict[str, Any]] = {}
        images = [g for g in page if g.image is not None]
        # Pictures share what the text leaves of the page (each was counted at IMAGE_ROOM).
        share = (max_bytes - used + IMAGE_ROOM * len(images) - 400) // max(len(images), 1)
        for g in page:
            elements = g.elements
            if g.image is not None:
                el = _image_element(g.image, share)
                elements = [el] if el is not None else [_note(
                    f"🖼 {g.image.title}: the picture is too large for a Teams message. {g.image.alt}")]
            elements = [dict(e) for e in elements]
            if g.separator and elements and body:
                elements[0]["separator"] = True
            body.extend(elements)
            entities.update(g.entities)
        if len(pages) > 1:
            body.append(_note(f"Part {n + 1} of {len(pages)}"))
        if body:
            cards.append(_card(body, list(entities.values())))
    return cards or [_card([_note(cut(m.text, 2000) or " ")], [])]


def message_card(m: Message) -> dict[str, Any]:
    """One card for the message; a message too long for one keeps its first part and says so."""
    cards = message_cards(m)
    if len(cards) == 1:
        return cards[0]
    first = cards[0]
    first["body"][-1] = _note(f"✂ {len(cards) - 1} more part(s) did not fit in one Teams message.")
    return first


def summary(m: Message) -> str:
    """The notification line (Teams shows it in the activity feed and toasts)."""
    return cut(neutralize(" ".join(m.text.split())), MAX_SUMMARY)


def attachment(card: dict[str, Any]) -> dict[str, Any]:
    return {"contentType": CONTENT_TYPE, "content": card}


def activity_payload(card: dict[str, Any], m: Message) -> dict[str, Any]:
    """The JSON of a message activity carrying `card` (before the connector adds the addressing)."""
    return {"type": "message", "summary": summary(m), "attachments": [attachment(card)]}


# --- forms (Teams dialogs) -------------------------------------------------------------------


def _date_time(epoch: int | None, zone: ZoneInfo) -> tuple[str | None, str | None]:
    if epoch is None:
        return None, None
    local = datetime.fromtimestamp(int(epoch), tz=timezone.utc).astimezone(zone)
    return local.strftime("%Y-%m-%d"), local.strftime("%H:%M")


def _input(i: FormInput, zone: ZoneInfo, value: Any) -> list[dict[str, Any]]:
    label = cut(i.label, 200)
    if isinstance(i, TextInput):
        el: dict[str, Any] = {"type": "Input.Text", "id": i.id, "label": label, "isMultiline": i.multiline,
                              "maxLength": i.max_length, "isRequired": i.required,
                              "errorMessage": f"{i.label}: required (at most {i.max_length:,} characters)"}
        if i.placeholder:
            el["placeholder"] = cut(i.placeholder, 200)
        initial = value if isinstance(value, str) else i.initial
        if initial:
            el["value"] = initial[: i.max_length]
        out = [el]
        if i.hint:
            out.append({"type": "RichTextBlock", "spacing": "None",
                        "inlines": [_run(i.hint, isSubtle=True, size="Small")]})
        return out
    if isinstance(i, ChoiceInput):
        el = {"type": "Input.ChoiceSet", "id": i.id, "label": label, "style": "compact", "isRequired": i.required,
              "errorMessage": f"{i.label}: choose one", "placeholder": "Choose…",
              "choices": [{"title": cut(o.label, 100), "value": o.value} for o in i.options]}
        initial = value if isinstance(value, str) else i.initial
        if initial:
            el["value"] = initial
        return [el]
    if isinstance(i, CheckboxInput):
        el = {"type": "Input.Toggle", "id": i.id, "label": label, "title": cut(i.option, 200),
              "valueOn": "true", "valueOff": "false", "isRequired": i.required,
              "errorMessage": f"{i.label}: required"}
        if value is True:
            el["value"] = "true"
        return [el]
    if isinstance(i, DateTimeInput):
        epoch = value if isinstance(value, int) else i.initial_epoch
        day, clock = _date_time(epoch, zone)
        date_el: dict[str, Any] = {"type": "Input.Date", "id": f"{i.id}.date", "label": label,
                                   "isRequired": i.required, "errorMessage": f"{i.label}: choose a date"}
        time_el: dict[str, Any] = {"type": "Input.Time", "id": f"{i.id}.time", "isRequired": i.required,
                                   "errorMessage": f"{i.label}: choose a time", "spacing": "Small"}
        if day:
            date_el["value"] = day
            time_el["value"] = clock
        return [date_el, time_el]
    if isinstance(i, UserInput):
        el = {"type": "Input.ChoiceSet", "id": i.id, "label": label, "isRequired": i.required,
              "errorMessage": f"{i.label}: choose someone", "choices": [], "isMultiSelect": False,
              # Teams' people picker: it searches the organisation and answers with the Entra object id.
              "choices.data": {"type": "Data.Query", "dataset": "graph.microsoft.com/users"}}
        if isinstance(value, str) and value:
            el["value"] = value
        return [el]
    raise TypeError(type(i))  # pragma: no cover - exhaustive


def form_card(f: Form, *, zone: ZoneInfo, values: dict[str, Any] | None = None,
              error: tuple[str | None, str] | None = None) -> dict[str, Any]:
    """The dialog card for a form; `error` (field id, message) is shown next to that field."""
    values = values or {}
    card = _Card()
    body: list[dict[str, Any]] = []
    for b in f.intro:
        body.extend(block(b, card))
    ids = [i.id for i in f.inputs]
    err_field = error[0] if error and error[0] in ids else (ids[0] if error and ids else None)
    for i in f.inputs:
        if error and i.id == err_field:
            body.append({"type": "RichTextBlock",
                         "inlines": [_run("⚠ " + error[1], color="Attention", weight="Bolder")]})
        body.extend(_input(i, zone, values.get(i.id)))
    if error and not ids:
        body.append({"type": "RichTextBlock", "inlines": [_run("⚠ " + error[1], color="Attention")]})
    out = _card(body, list(card.entities.values()))
    out["actions"] = [_submit(f.submit, {FORM_KEY: f.callback, META_KEY: f.metadata}, "primary")]
    return out


def _local_epoch(day: Any, clock: Any, zone: ZoneInfo) -> int | None:
    if not isinstance(day, str) or not day:
        return None
    clock = clock if isinstance(clock, str) and clock else "00:00"
    try:
        local = datetime.strptime(f"{day} {clock[:5]}", "%Y-%m-%d %H:%M").replace(tzinfo=zone)
    except ValueError:
        return None
    return int(local.timestamp())


def form_values(f: Form, data: dict[str, Any], *, zone: ZoneInfo) -> dict[str, Any]:
    """A submitted dialog's inputs as {input id: value}, the same shapes the Slack renderer gives."""
    out: dict[str, Any] = {}
    for i in f.inputs:
        raw = data.get(i.id)
        if isinstance(i, TextInput):
            out[i.id] = raw if isinstance(raw, str) and raw != "" else None
        elif isinstance(i, ChoiceInput):
            out[i.id] = raw if isinstance(raw, str) and raw in {o.value for o in i.options} else None
        elif isinstance(i, CheckboxInput):
            out[i.id] = str(raw).lower() == "true"
        elif isinstance(i, DateTimeInput):
            out[i.id] = _local_epoch(data.get(f"{i.id}.date"), data.get(f"{i.id}.time"), zone)
        elif isinstance(i, UserInput):
            out[i.id] = raw.split(",")[0].strip() if isinstance(raw, str) and raw.strip() else None
    return out
