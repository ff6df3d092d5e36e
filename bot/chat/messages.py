"""Neutral message models: what to show, built by the core, rendered by each chat adapter.

Customer text only ever travels in `Text` spans and `Quote` blocks, which every renderer shows
literally; markup (bold, mentions, links) can only come from the core itself.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PersonRef(_Model):
    """Someone to mention, with every platform identity the core knows."""

    member_id: int | None = None
    name: str | None = None
    slack_user_id: str | None = None
    teams_user_id: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.slack_user_id or self.teams_user_id or "someone"


class Text(_Model):
    t: Literal["text"] = "text"
    text: str
    style: Literal["plain", "bold", "italic", "code"] = "plain"


class Mention(_Model):
    t: Literal["mention"] = "mention"
    person: PersonRef


class Link(_Model):
    """A link the core made (never from customer text)."""

    t: Literal["link"] = "link"
    url: str
    label: str


class When(_Model):
    """An instant, shown in the reader's own time zone where the platform can."""

    t: Literal["when"] = "when"
    epoch: int
    fallback: str


Span = Annotated[Union[Text, Mention, Link, When], Field(discriminator="t")]


class Header(_Model):
    kind: Literal["header"] = "header"
    text: str


class Section(_Model):
    kind: Literal["section"] = "section"
    spans: list[Span]


class FieldItem(_Model):
    label: str
    value: list[Span]


class Fields(_Model):
    kind: Literal["fields"] = "fields"
    items: list[FieldItem]


class Quote(_Model):
    """Customer words, shown literally; `cut_from` is the full length when this is a preview."""

    kind: Literal["quote"] = "quote"
    text: str
    cut_from: int | None = None


class Context(_Model):
    kind: Literal["context"] = "context"
    spans: list[Span]


class Divider(_Model):
    kind: Literal["divider"] = "divider"


class ChecklistItem(_Model):
    key: str
    title: str
    done: bool
    by: PersonRef | None = None
    epoch: int | None = None
    note: str | None = None
    is_next: bool = False


class Checklist(_Model):
    kind: Literal["checklist"] = "checklist"
    title: str
    items: list[ChecklistItem]


class Button(_Model):
    el: Literal["button"] = "button"
    action: str
    label: str
    value: dict[str, Any] = {}
    style: Literal["primary", "danger"] | None = None
    confirm: str | None = None


class UserPicker(_Model):
    el: Literal["user_picker"] = "user_picker"
    action: str
    placeholder: str
    value: dict[str, Any] = {}


class Choice(_Model):
    value: str
    label: str


class Picker(_Model):
    el: Literal["picker"] = "picker"
    action: str
    placeholder: str
    options: list[Choice]
    value: dict[str, Any] = {}


Element = Annotated[Union[Button, UserPicker, Picker], Field(discriminator="el")]


class Actions(_Model):
    kind: Literal["actions"] = "actions"
    elements: list[Element]


class Image(_Model):
    """A picture uploaded with the message (bytes live in the outbox payload as base64)."""

    kind: Literal["image"] = "image"
    filename: str
    alt: str
    title: str
    png_base64: str


Block = Annotated[
    Union[Header, Section, Fields, Quote, Context, Divider, Checklist, Actions, Image],
    Field(discriminator="kind"),
]


class Message(_Model):
    """One chat message. `text` is the plain notification/fallback line."""

    text: str
    blocks: list[Block] = []
    broadcast: bool = False  # a thread reply that should also show in the channel


# --- forms (Slack modals, Teams cards with inputs) -------------------------------------------


class TextInput(_Model):
    input: Literal["text"] = "text"
    id: str
    label: str
    multiline: bool = False
    required: bool = False
    max_length: int = 3000
    placeholder: str | None = None
    initial: str | None = None
    hint: str | None = None


class ChoiceInput(_Model):
    input: Literal["choice"] = "choice"
    id: str
    label: str
    options: list[Choice]
    required: bool = True
    initial: str | None = None


class CheckboxInput(_Model):
    input: Literal["checkbox"] = "checkbox"
    id: str
    label: str
    option: str
    required: bool = False


class DateTimeInput(_Model):
    input: Literal["datetime"] = "datetime"
    id: str
    label: str
    required: bool = True
    initial_epoch: int | None = None


class UserInput(_Model):
    input: Literal["user"] = "user"
    id: str
    label: str
    required: bool = True


FormInput = Annotated[
    Union[TextInput, ChoiceInput, CheckboxInput, DateTimeInput, UserInput], Field(discriminator="input")
]


class Form(_Model):
    """A dialog asking for input before an action is done."""

    callback: str
    title: str
    submit: str
    intro: list[Block] = []
    inputs: list[FormInput]
    metadata: dict[str, Any] = {}


def plain(text: str, style: Literal["plain", "bold", "italic", "code"] = "plain") -> Text:
    return Text(text=text, style=style)


def bold(text: str) -> Text:
    return Text(text=text, style="bold")


def message_from_json(data: dict[str, Any]) -> Message:
    return Message.model_validate(data)
