"""Reading Adaptive Cards the way Teams would: what Teams refuses in a card, and the text, buttons and inputs
a test or the sandbox looks for in the activities the bot sent.
"""


from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from standins.teams_tenant import CARD


def adaptive_card_problems(card: Any) -> list[str]:
    """What Teams would refuse or mis-render in an Adaptive Card sent by a bot."""
    problems: list[str] = []
    if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
        return ["the attachment is not an AdaptiveCard"]
    version = str(card.get("version", ""))
    if not re.fullmatch(r"1\.[0-5]", version):
        problems.append(f"version {version!r}: Teams renders bot cards up to Adaptive Cards 1.5")
    known = {"TextBlock", "RichTextBlock", "ColumnSet", "Container", "ActionSet", "Image", "FactSet", "ImageSet",
             "Input.Text", "Input.ChoiceSet", "Input.Toggle", "Input.Date", "Input.Time", "Input.Number"}
    actions = {"Action.Submit", "Action.OpenUrl", "Action.ShowCard", "Action.ToggleVisibility", "Action.Execute"}
    ids: set[str] = set()
    texts: list[str] = []

    def action(a: Any, where: str) -> None:
        if not isinstance(a, dict) or a.get("type") not in actions:
            problems.append(f"{where}: unknown action {a!r:.80}")
            return
        if a["type"] != "Action.OpenUrl" and not a.get("title"):
            problems.append(f"{where}: an action without a title")
        if a["type"] == "Action.OpenUrl" and not re.match(r"^https?://", str(a.get("url", ""))):
            problems.append(f"{where}: OpenUrl to {a.get('url')!r}")

    def walk(node: Any, where: str) -> None:
        if isinstance(node, list):
            for n, item in enumerate(node):
                walk(item, f"{where}[{n}]")
            return
        if not isinstance(node, dict):
            problems.append(f"{where}: not an element")
            return
        t = node.get("type")
        if t == "TextRun":
            if not isinstance(node.get("text"), str):
                problems.append(f"{where}: a TextRun without text")
            if "selectAction" in node:
                action(node["selectAction"], f"{where}.selectAction")
            return
        if t == "Column":
            walk(node.get("items", []), f"{where}.items")
            return
        if t not in known:
            problems.append(f"{where}: unknown element type {t!r}")
            return
        if t.startswith("Input."):
            iid = node.get("id")
            if not iid:
                problems.append(f"{where}: an input without an id")
            elif iid in ids:
                problems.append(f"{where}: input id {iid!r} twice")
            ids.add(str(iid))
        if t == "TextBlock":
            if not isinstance(node.get("text"), str):
                problems.append(f"{where}: a TextBlock without text")
            texts.append(str(node.get("text", "")))
        if t == "RichTextBlock":
            walk(node.get("inlines", []), f"{where}.inlines")
        if t == "ColumnSet":
            walk(node.get("columns", []), f"{where}.columns")
        if t == "Container":
            walk(node.get("items", []), f"{where}.items")
        if t == "ActionSet":
            for n, a in enumerate(node.get("actions", [])):
                action(a, f"{where}.actions[{n}]")
        if t == "Image" and not str(node.get("url", "")).startswith(("https://", "data:image/")):
            problems.append(f"{where}: image URL {str(node.get('url'))[:60]!r}")

    walk(card.get("body", []), "body")
    for n, a in enumerate(card.get("actions") or []):
        action(a, f"actions[{n}]")
    entities = (card.get("msteams") or {}).get("entities") or []
    for e in entities:
        if e.get("type") == "mention" and not any(str(e.get("text", "\0")) in t for t in texts):
            problems.append(f"mention entity {e.get('text')!r} is in no TextBlock")
    for t in texts:
        for tag in re.findall(r"<at>.*?</at>", t, flags=re.DOTALL):
            if not any(e.get("text") == tag for e in entities):
                problems.append(f"{tag!r} has no mention entity")
    return problems


def card_of(activity: dict[str, Any]) -> dict[str, Any] | None:
    """The Adaptive Card an activity carries, if any."""
    for a in activity.get("attachments") or []:
        if a.get("contentType") == CARD:
            return a.get("content")
    return None


def nodes(card: Any, *, skip: tuple[str, ...] = ("data",)) -> Iterator[dict[str, Any]]:
    """Every object in a card, depth first in document order, not looking inside the keys in `skip`."""
    if isinstance(card, dict):
        yield card
        for k, v in card.items():
            if k not in skip:
                yield from nodes(v, skip=skip)
    elif isinstance(card, list):
        for v in card:
            yield from nodes(v, skip=skip)


def card_text(card: Any) -> str:
    """Every word a person would read on a card (texts, titles, labels, choices), as one string."""
    return "\n".join(node[k] for node in nodes(card, skip=("data", "msteams"))
                     for k in ("text", "title", "label", "placeholder", "altText", "value")
                     if isinstance(node.get(k), str) and not (k == "value" and node.get("type") is None))


def text_of(activity: dict[str, Any]) -> str:
    """What a person reads in an activity: its text and its card."""
    return (activity.get("text") or "") + "\n" + card_text(card_of(activity) or {})


def find_actions(card: Any) -> list[dict[str, Any]]:
    """Every Action.Submit on a card, in order (ActionSets in the body, then the card's actions)."""
    return [n for n in nodes(card) if n.get("type") == "Action.Submit"]


def find_inputs(card: Any) -> list[dict[str, Any]]:
    """Every input on a card, in order."""
    return [n for n in nodes(card, skip=()) if str(n.get("type", "")).startswith("Input.")]
