"""Pure builders for what the assistant shows: the "Draft a reply" dialog, theme lines, the digest summary.

The draft dialog is for the case owner only. The draft sits in an editable text box; Regenerate asks
for another, Discard (or Cancel) throws it away, Done closes it. cxloop never sends a draft to a
customer: the owner copies it into their email or chat, or reads it on the call.
"""

from __future__ import annotations

import enum
from typing import Any

from bot.chat.messages import Actions, Block, Button, Context, Form, Quote, Section, Span, TextInput, bold, plain
from bot.assist.drafts import MAX_DRAFT
from bot.assist.results import Classification, DigestSummary, Draft
from bot.assist.themes import offline_sentiment, offline_themes

MAX_REGENERATIONS = 5


class AssistAction(str, enum.Enum):
    DRAFT = "case_draft_reply"          # the owner's DM: open the draft dialog
    REGENERATE = "draft_regenerate"     # inside the dialog
    DISCARD = "draft_discard"           # inside the dialog


class AssistForm(str, enum.Enum):
    DRAFT = "form_draft_reply"


def draft_button(case_id: int) -> Button:
    """The owner's "Draft a reply" button (goes in the owner's DM actions)."""
    return Button(action=AssistAction.DRAFT.value, label="Draft a reply", value={"case": case_id})


def _title(case_id: int) -> str:
    return f"Reply draft · case #{case_id}"[:24]


def drafting_form(case_id: int) -> Form:
    """Shown at once while the draft is written (a model can take a few seconds; the trigger can't wait)."""
    return Form(callback=AssistForm.DRAFT.value, title=_title(case_id), submit="Done",
                intro=[Section(spans=[plain("✍️ Drafting a reply that follows RESOLVED…")]),
                       Context(spans=[plain("Nothing is sent to the customer.")])],
                inputs=[], metadata={"case": case_id, "variant": 0})


def draft_form(case_id: int, draft: Draft, *, controls: bool = True) -> Form:
    """The draft in an editable box, with Regenerate and Discard; Done closes it. Nothing is ever sent.

    `controls=False` leaves the two buttons out, for dialogs that cannot be updated in place (Teams):
    closing the dialog discards, and "Draft a reply" again gives a fresh one.
    """
    method = draft.label + (" · a few stock phrases were taken out" if draft.repaired else "")
    buttons: list = []
    if controls and draft.variant < MAX_REGENERATIONS:
        buttons.append(Button(action=AssistAction.REGENERATE.value, label="Regenerate",
                              value={"case": case_id, "variant": draft.variant + 1}))
    if controls:
        buttons.append(Button(action=AssistAction.DISCARD.value, label="Discard", value={"case": case_id},
                              style="danger"))
    intro: list[Block] = [
        Section(spans=[bold("A draft reply to the customer"), plain(" (person first: respond, empathize and "
                                                                   "apologize, solve, invite their idea, verify)")]),
        Context(spans=[plain(f"{method} · cxloop never sends it: make it sound like you, then copy it into your "
                             "email or chat, or use it on the call.")]),
    ]
    if buttons:
        intro.append(Actions(elements=buttons))
    return Form(callback=AssistForm.DRAFT.value, title=_title(case_id), submit="Done", intro=intro,
                inputs=[TextInput(id="draft", label="Your reply (edit freely)", multiline=True, required=False,
                                  max_length=MAX_DRAFT, initial=draft.text,
                                  hint="Nothing is sent to the customer.")],
                metadata={"case": case_id, "variant": draft.variant, "method": draft.method})


def discarded_form(case_id: int) -> Form:
    """What the dialog shows after Discard."""
    return Form(callback=AssistForm.DRAFT.value, title=_title(case_id), submit="Close",
                intro=[Section(spans=[plain("Draft discarded. Nothing was sent to the customer.")]),
                       Context(spans=[plain("Use “Draft a reply” again whenever you like.")])],
                inputs=[], metadata={"case": case_id, "discarded": True})


def theme_label(theme: str) -> str:
    return theme[:1].upper() + theme[1:]


def response_insight(response: Any, stored: Classification | None = None) -> Classification | None:
    """What an alert shows for a response: its stored themes, else the offline ones (pure, instant)."""
    if stored is not None:
        return stored
    comment = (getattr(response, "comment", None) or "").strip()
    if not comment:
        return None
    survey, score = getattr(response, "survey", None), getattr(response, "score", None)
    return Classification(themes=offline_themes(comment), sentiment=offline_sentiment(comment, survey=survey,
                                                                                         score=score),
                          method="offline")


def insight_context(c: Classification | None) -> Context | None:
    """One line for a case alert: "Themes: Billing, Wait time · negative · Themes found with gpt-4o-mini"."""
    if c is None or not c.themes:
        return None
    spans: list[Span] = [plain(f"🏷 {', '.join(theme_label(t) for t in c.themes)} · {c.sentiment}"),
                         plain(f" · {c.label}")]
    return Context(spans=spans)


def summary_blocks(s: DigestSummary) -> list[Block]:
    """The digest's "This week's themes" section: each bullet's point, its quote, and who summarised."""
    if not s.bullets:
        return []
    blocks: list[Block] = [Section(spans=[bold("🧭 This week's themes")])]
    for b in s.bullets:
        blocks.append(Section(spans=[plain(f"• {b.point}")]))
        blocks.append(Quote(text=b.quote))
    blocks.append(Context(spans=[plain(s.label)]))
    return blocks
