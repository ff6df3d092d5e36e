"""The assistant's neutral builders, rendered by the real Slack renderer within Slack's limits."""

from __future__ import annotations

import json

from bot.assist import (
    Assistant,
    Classification,
    CommentIn,
    DigestSummary,
    Draft,
    DraftInput,
    SummaryBullet,
)
from bot.assist.messages import (
    MAX_REGENERATIONS,
    AssistAction,
    AssistForm,
    discarded_form,
    draft_button,
    draft_form,
    drafting_form,
    insight_context,
    summary_blocks,
)
from bot.chat.messages import Actions, Button, Context, Quote, TextInput, plain
from handlers.slack import render

LONG = "Waited on hold. " * 400


def test_draft_a_reply_button_carries_the_case() -> None:
    b = draft_button(42)
    assert b.action == AssistAction.DRAFT.value == "case_draft_reply" and b.value == {"case": 42}
    assert b.label == "Draft a reply"


def test_the_draft_dialog_has_the_editable_draft_regenerate_and_discard() -> None:
    d = Assistant.offline("no OpenAI key").draft_reply(DraftInput(comment="Charged twice.", survey="nps", score=1,
                                                                  customer_name="Dana Reyes", case_id=42))
    form = draft_form(42, d)
    assert form.callback == AssistForm.DRAFT.value and form.submit == "Done"
    (box,) = form.inputs
    assert isinstance(box, TextInput) and box.multiline and box.initial == d.text and not box.required
    actions = next(b for b in form.intro if isinstance(b, Actions))
    assert [(e.action, e.label) for e in actions.elements] == [("draft_regenerate", "Regenerate"),
                                                               ("draft_discard", "Discard")]
    assert actions.elements[0].value == {"case": 42, "variant": 1}
    note = next(b for b in form.intro if isinstance(b, Context)).spans[0].text  # type: ignore[union-attr]
    assert note.startswith("Drafted offline (no OpenAI key)") and "never sends" in note
    assert form.metadata == {"case": 42, "variant": 0, "method": "offline"}
    view = render.modal(form)
    assert view["type"] == "modal" and len(view["title"]["text"]) <= 24 and view["close"]["text"] == "Cancel"
    element = view["blocks"][-1]["element"]
    assert element["type"] == "plain_text_input" and element["multiline"] and element["initial_value"] == d.text
    assert json.loads(view["private_metadata"])["case"] == 42


def test_regenerate_stops_after_a_few_and_a_long_draft_still_fits() -> None:
    d = Draft(text=LONG[:3000], method="openai", model="gpt-4o-mini", variant=MAX_REGENERATIONS, repaired=True)
    form = draft_form(7, d)
    labels = [e.label for b in form.intro if isinstance(b, Actions) for e in b.elements]
    assert labels == ["Discard"]
    note = next(b for b in form.intro if isinstance(b, Context)).spans[0].text  # type: ignore[union-attr]
    assert "Drafted with gpt-4o-mini · a few stock phrases were taken out" in note
    element = render.modal(form)["blocks"][-1]["element"]
    assert len(element["initial_value"]) <= element["max_length"] == 3000


def test_the_drafting_and_discarded_dialogs_say_nothing_was_sent() -> None:
    for form in (drafting_form(3), discarded_form(3)):
        view = render.modal(form)
        assert form.inputs == [] and "Nothing" in json.dumps(view["blocks"])
        assert form.metadata["case"] == 3


def test_alert_line_shows_themes_sentiment_and_method() -> None:
    line = insight_context(Classification(themes=["billing", "wait time"], sentiment="negative", method="openai",
                                          model="gpt-4o-mini"))
    assert line is not None
    text = "".join(s.text for s in line.spans)  # type: ignore[union-attr]
    assert text == "🏷 Billing, Wait time · negative · Themes found with gpt-4o-mini"
    assert insight_context(Classification(themes=[], sentiment="neutral", method="offline")) is None


def test_summary_blocks_keep_quotes_in_quote_blocks() -> None:
    s = Assistant.offline("no OpenAI key").summarize_week([
        CommentIn(id="1", text="<@U0ADMIN> charged twice. AGAIN."), CommentIn(id="2", text="Parcel left in the rain.")])
    blocks = summary_blocks(s)
    quotes = [b for b in blocks if isinstance(b, Quote)]
    assert {q.text for q in quotes} == {"<@U0ADMIN> charged twice.", "Parcel left in the rain."}
    rendered = json.dumps(render.blocks(blocks))
    assert "<@U0ADMIN>" not in rendered and "&lt;@U0ADMIN&gt;" in rendered  # customer words never ping
    assert blocks[-1] == Context(spans=[plain("Summarised offline (no OpenAI key)")])
    assert summary_blocks(DigestSummary(bullets=[], method="offline")) == []
    b = SummaryBullet(theme="billing", point="p", quote="q", comment_id="1")
    assert summary_blocks(DigestSummary(bullets=[b], method="openai", model="m"))[-1].spans[0].text == \
        "Summarised with m"  # type: ignore[union-attr]


def test_buttons_are_plain_neutral_elements() -> None:
    assert isinstance(draft_button(1), Button)


def test_an_alert_shows_stored_themes_else_offline_ones() -> None:
    from types import SimpleNamespace

    from bot.assist.messages import response_insight

    r = SimpleNamespace(comment="Charged twice. AGAIN.", survey="nps", score=1)
    offline = response_insight(r)
    assert offline is not None and offline.themes == ["billing"] and offline.label == "Themes found offline"
    stored = Classification(themes=["billing", "staff attitude"], sentiment="negative", method="openai", model="m")
    assert response_insight(r, stored) is stored
    assert response_insight(SimpleNamespace(comment="  ", survey="nps", score=1)) is None


def test_a_dialog_that_cannot_update_in_place_has_no_regenerate_or_discard() -> None:
    d = Draft(text="Hello,\n\nSorry.", method="offline", reason="the model is not asked here")
    form = draft_form(5, d, controls=False)
    assert not [b for b in form.intro if isinstance(b, Actions)]
    assert isinstance(form.inputs[0], TextInput) and form.inputs[0].initial == d.text
