"""The Adaptive Card renderer: pure functions, inside Teams' limits, never turning customer text into markup."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.chat.messages import (
    Actions,
    Button,
    CheckboxInput,
    Checklist,
    ChecklistItem,
    Choice,
    ChoiceInput,
    Context,
    DateTimeInput,
    Divider,
    FieldItem,
    Fields,
    Form,
    Header,
    Image,
    Link,
    Mention,
    Message,
    PersonRef,
    Quote,
    Section,
    TextInput,
    UserInput,
    UserPicker,
    When,
    bold,
    plain,
)
from bot.reporting.charts import Series, trend_png
from handlers.teams import card_forms, cards
from standins.teams_cards import (
    adaptive_card_problems,
    card_text,
    find_actions,
    find_inputs,
)

LONDON = ZoneInfo("Europe/London")
HOSTILE = ("**bold** _it_ [click](https://evil.example/x) <at>Alice Martin</at> {{DATE(2020-01-01T00:00:00Z)}} "
           "www.evil.example https://evil.example/y\n- item\n1. first\n# heading &lt;b&gt; \\*")
ALICE = PersonRef(member_id=1, name="Alice Martin", teams_user_id="0a000000-0000-4000-8000-0000000000a2")


def all_nodes(card):
    stack = [card]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def text_blocks(card) -> list[str]:
    return [n["text"] for n in all_nodes(card) if n.get("type") == "TextBlock"]


def runs(card) -> list[str]:
    return [n["text"] for n in all_nodes(card) if n.get("type") == "TextRun"]


def size(card) -> int:
    return cards.size_of({"type": "message", "attachments": [cards.attachment(card)]})


def test_customer_text_goes_out_as_text_runs_that_teams_never_reads_as_markdown():
    m = Message(text="New case", blocks=[Header(text="Case #1"), Quote(text=HOSTILE),
                                         Fields(items=[FieldItem(label="Customer", value=[plain(HOSTILE)])])])
    card = cards.message_card(m)
    assert adaptive_card_problems(card) == []
    assert text_blocks(card) == []  # no Markdown anywhere
    joined = "".join(runs(card))
    assert "**bold**" in joined and "[click]" in joined  # shown literally
    # URLs are broken with an invisible word joiner, so no client links them
    assert "https://evil" not in joined and "https:\u2060//evil.example" in joined and "www\u2060.evil" in joined
    assert "entities" not in card["msteams"]  # `<at>` in customer text mentions no one


def test_lines_with_mentions_or_dates_escape_every_markdown_character_of_the_text():
    m = Message(text="x", blocks=[Section(spans=[Mention(person=ALICE), plain(" noted: " + HOSTILE.replace("\n", " ")),
                                                 plain(" at "), When(epoch=1763633700, fallback="2025-11-20 10:15")])])
    card = cards.message_card(m)
    assert adaptive_card_problems(card) == []
    (text,) = text_blocks(card)
    assert text.startswith("<at>Alice Martin</at> noted: ")
    assert text.count("<at>") == 1  # the customer's `<at>` is escaped: \<at\>
    assert "\\<at\\>Alice Martin\\</at\\>" in text
    assert "\\*\\*bold\\*\\*" in text and "\\_it\\_" in text and "\\[click\\](" in text
    assert "\\{\\{DATE" in text  # the customer's date function is inert; ours is not
    assert "{{DATE(2025-11-20T10:15:00Z, SHORT)}} {{TIME(2025-11-20T10:15:00Z)}}" in text
    assert "https://" not in text
    assert card["msteams"]["entities"] == [{"type": "mention", "text": "<at>Alice Martin</at>",
                                            "mentioned": {"id": ALICE.teams_user_id, "name": "Alice Martin"}}]


def test_a_name_cannot_break_out_of_its_mention_and_slack_only_people_are_named_not_mentioned():
    evil = PersonRef(name="Eve</at> **x** <at>Bob", teams_user_id="0a000000-0000-4000-8000-0000000000ee")
    slack_only = PersonRef(name="Sam Taylor", slack_user_id="U0SAM")
    card = cards.message_card(Message(text="x", blocks=[Section(spans=[Mention(person=evil), plain(" and "),
                                                                      Mention(person=slack_only)])]))
    assert adaptive_card_problems(card) == []
    (text,) = text_blocks(card)
    assert text == "<at>Eve/at x atBob</at> and **Sam Taylor**"
    assert [e["mentioned"]["name"] for e in card["msteams"]["entities"]] == ["Eve/at x atBob"]


def test_buttons_open_dialogs_and_carry_the_action_and_its_value():
    m = Message(text="x", blocks=[Actions(elements=[
        Button(action="case_take", label="Take it", value={"case": 7}, style="primary"),
        UserPicker(action="case_assign", placeholder="Assign to…", value={"case": 7}),
        Button(action="case_dismiss", label="Not actionable", value={"case": 7}, style="danger", confirm="Sure?")])])
    card = cards.message_card(m)
    take, assign, dismiss = find_actions(card)
    assert take == {"type": "Action.Submit", "title": "Take it", "style": "positive",
                    "data": {"msteams": {"type": "task/fetch"}, "cxAction": "case_take", "cxValue": {"case": 7}}}
    assert assign["data"]["cxPick"] == {"kind": "user", "label": "Assign to…"}
    assert dismiss["style"] == "destructive" and dismiss["data"]["cxConfirm"] == "Sure?"


def test_a_long_message_becomes_several_cards_each_within_the_limit():
    long = "Waited on hold. " * 900  # 14,400 characters
    m = Message(text="Full comment", blocks=[Context(spans=[plain("part 1")]),
                                             *[Quote(text=long[i:i + 2500]) for i in range(0, len(long), 2500)],
                                             Quote(text=long), Quote(text=long)])
    parts = cards.message_cards(m)
    assert len(parts) > 1
    for card in parts:
        assert size(card) <= cards.MAX_CARD_BYTES and adaptive_card_problems(card) == []
    assert sum(r.count("Waited on hold.") for c in parts for r in runs(c)) > 2000  # words kept, not dropped
    assert "Part 1 of" in card_text(parts[0])
    # one card (an edit) keeps the first part and says what is missing
    single = cards.message_card(m)
    assert size(single) <= cards.MAX_CARD_BYTES and "did not fit" in card_text(single)


def test_one_quote_too_long_for_any_card_is_cut_with_a_visible_marker():
    card = cards.message_card(Message(text="x", blocks=[Quote(text="é" * 40_000)]))
    assert size(card) <= cards.MAX_CARD_BYTES
    assert cards.CUT in "".join(runs(card))


def test_a_chart_goes_inline_as_a_data_uri_shrunk_to_fit():
    weeks = [date(2026, 9, 7) + timedelta(weeks=i) for i in range(12)]
    png = trend_png(weeks, [Series("NPS", [10.0 + i for i in range(12)], -100, 100),
                            Series("CSAT", [80 + i % 3 for i in range(12)], 0, 100, unit="%", decimals=0),
                            Series("CES", [60.0 + i for i in range(12)], 0, 100, unit="%")], title="Support")
    filler = [Section(spans=[plain("Loops closed this week: 12. " * 40)]) for _ in range(4)]
    m = Message(text="Digest", blocks=[Header(text="Weekly digest"), *filler,
                                       Image(filename="d.png", alt="NPS, CSAT and CES", title="Trend",
                                             png_base64=base64.b64encode(png).decode())])
    parts = cards.message_cards(m)
    images = [n for c in parts for n in all_nodes(c) if n.get("type") == "Image"]
    assert len(images) == 1 and images[0]["url"].startswith("data:image/png;base64,")
    assert images[0]["altText"] == "NPS, CSAT and CES"
    for card in parts:
        assert size(card) <= cards.MAX_CARD_BYTES and adaptive_card_problems(card) == []
    import io

    from PIL import Image as PILImage

    shown = PILImage.open(io.BytesIO(base64.b64decode(images[0]["url"].split(",", 1)[1])))
    assert shown.width >= 320


def test_a_picture_that_cannot_be_made_to_fit_is_named_not_dropped_silently():
    import io
    import random

    from PIL import Image as PILImage

    noise = random.Random(7).randbytes(400 * 500 * 3)  # no palette or size makes noise small
    img = PILImage.frombytes("RGB", (400, 500), noise)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    card = cards.message_card(Message(text="x", blocks=[Image(filename="n.png", alt="random noise", title="Noise",
                                                              png_base64=base64.b64encode(buf.getvalue()).decode())]))
    assert size(card) <= cards.MAX_CARD_BYTES
    assert "too large for a Teams message" in card_text(card) and "random noise" in card_text(card)


def test_checklists_fields_dividers_and_links():
    m = Message(text="x", blocks=[
        Fields(items=[FieldItem(label="Owner", value=[Mention(person=ALICE)]),
                      FieldItem(label="Due", value=[When(epoch=1763633700, fallback="20 Nov")]),
                      FieldItem(label="Touchpoint", value=[plain("phone")])]),
        Divider(),
        Checklist(title="RESOLVED checklist", items=[
            ChecklistItem(key="respond", title="1. Respond", done=True, by=ALICE, epoch=1763633700, note="Called **back**"),
            ChecklistItem(key="empathize", title="2. Empathize", done=False, is_next=True)]),
        Section(spans=[Link(url="https://cx.example.org/case/1", label="open"), Link(url="javascript:alert(1)",
                                                                                    label="bad")])])
    card = cards.message_card(m)
    assert adaptive_card_problems(card) == []
    body = card["body"]
    assert body[0]["type"] == "ColumnSet" and len(body[0]["columns"]) == 2
    assert any(n.get("separator") for n in body)
    shown = card_text(card)
    assert "✅ " in shown and "👉 " in shown and "Called **back**" in shown
    # the checklist names who did a step without pinging them on every edit
    assert [e["mentioned"]["id"] for e in card["msteams"]["entities"]] == [ALICE.teams_user_id]
    links = [n for n in all_nodes(card) if n.get("type") == "Action.OpenUrl"]
    assert [link["url"] for link in links] == ["https://cx.example.org/case/1"]


def test_forms_become_dialog_inputs_and_their_values_come_back_in_the_same_shapes():
    f = Form(callback="form_close_loop", title="Close loop #3", submit="Loop closed", intro=[Section(spans=[bold("Hi")])],
             inputs=[ChoiceInput(id="how", label="How?", options=[Choice(value="phone", label="Phone call")]),
                     DateTimeInput(id="when", label="When", initial_epoch=int(datetime(2026, 7, 1, 9, 30,
                                                                                        tzinfo=timezone.utc).timestamp())),
                     TextInput(id="note", label="Note", multiline=True, max_length=1000, placeholder="…"),
                     CheckboxInput(id="agreed", label="Agreement", option="They agreed", required=True),
                     UserInput(id="who", label="Who")],
             metadata={"case": 3})
    card = card_forms.form_card(f, zone=LONDON)
    assert adaptive_card_problems(card) == []
    inputs = {i["id"]: i for i in find_inputs(card)}
    assert inputs["how"]["type"] == "Input.ChoiceSet" and inputs["how"]["choices"] == [{"title": "Phone call",
                                                                                          "value": "phone"}]
    assert inputs["when.date"]["value"] == "2026-07-01" and inputs["when.time"]["value"] == "10:30"  # BST
    assert inputs["note"]["isMultiline"] and inputs["note"]["maxLength"] == 1000 and not inputs["note"]["isRequired"]
    assert inputs["agreed"]["type"] == "Input.Toggle" and inputs["agreed"]["isRequired"]
    assert inputs["who"]["choices.data"] == {"type": "Data.Query", "dataset": "graph.microsoft.com/users"}
    (submit,) = card["actions"]
    assert submit["data"] == {"cxForm": "form_close_loop", "cxMeta": {"case": 3}}
    data = {**submit["data"], "how": "phone", "when.date": "2026-07-01", "when.time": "10:30", "note": "ok",
            "agreed": "true", "who": "0a000000-0000-4000-8000-0000000000a3"}
    values = card_forms.form_values(f, data, zone=LONDON)
    assert values == {"how": "phone", "when": int(datetime(2026, 7, 1, 9, 30, tzinfo=timezone.utc).timestamp()),
                      "note": "ok", "agreed": True, "who": "0a000000-0000-4000-8000-0000000000a3"}
    assert card_forms.form_values(f, {"how": "fax", "agreed": "false", "note": ""}, zone=LONDON) == {
        "how": None, "when": None, "note": None, "agreed": False, "who": None}


def test_a_form_error_is_shown_next_to_its_field_with_what_was_typed():
    f = Form(callback="form_dismiss", title="t", submit="Go",
             inputs=[TextInput(id="a", label="A"), TextInput(id="reason", label="Reason", required=True)])
    card = card_forms.form_card(f, zone=LONDON, values={"a": "kept **as typed**"}, error=("reason", "Say why <b>"))
    body = card["body"]
    error_at = next(i for i, el in enumerate(body) if "Say why <b>" in json.dumps(el, ensure_ascii=False))
    assert body[error_at + 1]["id"] == "reason"
    assert next(i for i in find_inputs(card) if i["id"] == "a")["value"] == "kept **as typed**"


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_empty_messages_still_make_a_valid_card(text):
    card = cards.message_card(Message(text=text or "x", blocks=[Section(spans=[plain(text)])]))
    assert adaptive_card_problems(card) == [] and card["body"]
