"""Neutral forms as Teams dialogs (Adaptive Cards in a task module), and the values a submitted dialog carries."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from bot.chat.messages import (
    CheckboxInput,
    ChoiceInput,
    DateTimeInput,
    Form,
    FormInput,
    TextInput,
    UserInput,
)
from handlers.teams.card_text import CardContext, cut, text_run
from handlers.teams.cards import FORM_KEY, META_KEY, adaptive_card, block, submit_action

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
                        "inlines": [text_run(i.hint, isSubtle=True, size="Small")]})
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
    card = CardContext()
    body: list[dict[str, Any]] = []
    for b in f.intro:
        body.extend(block(b, card))
    ids = [i.id for i in f.inputs]
    err_field = error[0] if error and error[0] in ids else (ids[0] if error and ids else None)
    for i in f.inputs:
        if error and i.id == err_field:
            body.append({"type": "RichTextBlock",
                         "inlines": [text_run("⚠ " + error[1], color="Attention", weight="Bolder")]})
        body.extend(_input(i, zone, values.get(i.id)))
    if error and not ids:
        body.append({"type": "RichTextBlock", "inlines": [text_run("⚠ " + error[1], color="Attention")]})
    out = adaptive_card(body, list(card.entities.values()))
    out["actions"] = [submit_action(f.submit, {FORM_KEY: f.callback, META_KEY: f.metadata}, "primary")]
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
