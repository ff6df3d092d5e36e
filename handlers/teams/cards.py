"""Pure renderers: neutral messages to Adaptive Cards 1.5, inside Microsoft Teams' limits.

Text goes through handlers/teams/card_text.py (never markup); forms through handlers/teams/card_forms.py.
Teams refuses messages over about 28 KB (card, text and entities together): `message_cards` packs
a long message into several cards, cuts a single over-long quote with a visible ✂ marker, and
shrinks an inline picture (a `data:` URI) to fit, or says it could not.
"""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass
from typing import Any

from bot.chat.messages import (
    Actions,
    Block,
    Button,
    Checklist,
    Context,
    Divider,
    Fields,
    Header,
    Image,
    Message,
    Picker,
    Quote,
    Section,
    Span,
    Text,
    UserPicker,
    When,
)
from handlers.teams.card_text import (
    CUT,
    CardContext,
    cut,
    line_element,
    neutralize,
    span_elements,
    text_run,
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
IMAGE_ROOM = 12_000  # the least a page keeps for an inline chart; smaller would be unreadable

# The keys a card action's data carries; Teams merges input values into the same object, so these
# are namespaced away from any input id.
ACTION_KEY = "cxAction"
VALUE_KEY = "cxValue"
PICK_KEY = "cxPick"
CONFIRM_KEY = "cxConfirm"
FORM_KEY = "cxForm"
META_KEY = "cxMeta"

# --- blocks ----------------------------------------------------------------------------------


def _fields(b: Fields, card: CardContext) -> list[dict[str, Any]]:
    rows = []
    items = b.items
    for i in range(0, len(items), 2):
        columns = []
        for f in items[i:i + 2]:
            cell = [{"type": "RichTextBlock", "inlines": [text_run(f.label, "bold", isSubtle=True, size="Small")]}]
            value = span_elements(f.value, card) or [{"type": "RichTextBlock", "inlines": [text_run("—")]}]
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
        items.append({"type": "RichTextBlock", "spacing": "None", "inlines": [text_run(line or " ", italic=True)]})
    if q.cut_from:
        items.append({"type": "RichTextBlock", "spacing": "Small",
                      "inlines": [text_run(f"{CUT} ({q.cut_from:,} characters in all)", isSubtle=True, size="Small")]})
    return [{"type": "Container", "style": "emphasis", "items": items}]


def _checklist(c: Checklist, card: CardContext) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [{"type": "RichTextBlock", "inlines": [text_run(c.title, "bold")]}]
    for item in c.items:
        mark = "✅" if item.done else ("👉" if item.is_next else "⬜")
        items.append({"type": "RichTextBlock", "spacing": "Small",
                      "inlines": [text_run(f"{mark} "), text_run(item.title, "bold" if item.is_next else "plain")]})
        if item.done:
            # Who and when, without a mention: a checklist edit should not ping everyone again.
            bits: list[Span] = [Text(text="      ")]
            if item.by:
                bits.append(Text(text=item.by.label))
            if item.epoch:
                bits += [Text(text=" · " if item.by else ""), When(epoch=item.epoch, fallback="")]
            el = line_element(bits, card, size="Small", isSubtle=True)
            if el is not None:
                el["spacing"] = "None"
                items.append(el)
            if item.note:
                items.append({"type": "RichTextBlock", "spacing": "None",
                              "inlines": [text_run("      " + cut(item.note, MAX_NOTE), italic=True, isSubtle=True,
                                               size="Small")]})
    return [{"type": "Container", "items": items}]


def submit_action(title: str, data: dict[str, Any], style: str | None = None) -> dict[str, Any]:
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
        actions.append(submit_action(label, element_data(el), style))
    return [{"type": "ActionSet", "actions": actions}] if actions else []


def block(b: Block, card: CardContext) -> list[dict[str, Any]]:
    """The card elements for one neutral block (images are placed by `message_cards`)."""
    if isinstance(b, Header):
        return [{"type": "RichTextBlock", "inlines": [text_run(b.text, "bold", size="Large")]}]
    if isinstance(b, Section):
        return span_elements(b.spans, card)
    if isinstance(b, Fields):
        return _fields(b, card)
    if isinstance(b, Quote):
        return _quote(b)
    if isinstance(b, Context):
        return span_elements(b.spans, card, size="Small", isSubtle=True)
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


def adaptive_card(body: list[dict[str, Any]], entities: list[dict[str, Any]]) -> dict[str, Any]:
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
        card = CardContext()
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
    return {"type": "RichTextBlock", "inlines": [text_run(text, isSubtle=True, size="Small", italic=True)]}


def message_cards(m: Message, *, max_bytes: int = MAX_CARD_BYTES) -> list[dict[str, Any]]:
    """The message as one card, or as several when it is too long for one Teams message (in order)."""
    groups = _groups(m)
    empty = size_of(adaptive_card([], []))
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
            cards.append(adaptive_card(body, list(entities.values())))
    return cards or [adaptive_card([_note(cut(m.text, 2000) or " ")], [])]


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
