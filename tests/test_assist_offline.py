"""The offline method on its own: themes and sentiment on the bundled sample, drafts, summaries, names, redaction.

LABELLED is a hand-labelled set of comments from bot/data/sample_responses.csv (themes and
sentiment, labelled by a person before the lexicon was tuned). HELD_OUT was written and labelled
afterwards and never tuned on: it is the honest estimate. `bench/bench_assist.py` prints the figures.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from bot.assist import Assistant, CommentIn, DraftInput, ThemeSet
from bot.assist.drafts import FORBIDDEN, forbidden_phrases, offline_draft
from bot.assist.names import confirm_names, offline_names
from bot.assist.redact import CARD, EMAIL, PHONE, has_personal_data, luhn_ok, redact
from bot.assist.summary import locate_quote, offline_summary
from bot.assist.themes import OTHER, offline_sentiment, offline_themes

SAMPLE = Path(__file__).resolve().parents[1] / "bot" / "data" / "sample_responses.csv"
W, B, S, P, D, U, O = "wait time", "billing", "staff attitude", "product defect", "delivery", "usability", "other"

# (comment, survey, score, themes, sentiment)
LABELLED: list[tuple[str, str, int, list[str], str]] = [
    ("Took six working days to get an email back. By then I'd sorted it myself.", 'nps', 0, [W], 'negative'),
    ('Asked for a corrected invoice three weeks ago. Still waiting.', 'nps', 5, [B, W], 'negative'),
    ('Price went up with no warning. Found out from my bank statement.', 'csat', 2, [B], 'negative'),
    ('The returns process is ridiculously complicated. Why do I need to give the reason three times?', 'ces', 2, [U, D], 'negative'),
    ('Safe place instructions followed to the letter. Thank you.', 'csat', 4, [D], 'positive'),
    ("Chat agent was quick and actually read what I'd written before replying.", 'nps', 9, [S, W], 'positive'),
    ("The lady on the phone was so patient with me. I'm not good with technology and she never once made me feel stupid.", 'csat', 5, [S], 'positive'),
    ("Third failed delivery attempt. I've now taken two days off work for this.", 'nps', 0, [D], 'negative'),
    ('My payment history disappeared from the online account after your billing update.', 'nps', 2, [B, P], 'negative'),
    ('Refund for my return landed two days after I dropped it off. Impressive.', 'ces', 4, [B, D], 'positive'),
    ('App keeps logging me out. Every. Single. Time.', 'nps', 6, [P], 'negative'),
    ("The driver left my parcel in the communal hallway of a block of 40 flats. Unsurprisingly it's gone.", 'nps', 0, [D], 'negative'),
    ('Over an hour of my time for something that should take five minutes.', 'ces', 1, [W], 'negative'),
    ('The advice I got actually made things worse. Had to factory reset in the end and lost all my settings.', 'csat', 2, [S, P], 'negative'),
    ('Online account shows one balance, the letter shows another. Which one do I pay?', 'nps', 2, [B], 'negative'),
    ('Tom was great - explained why the direct debit changed and set up a payment plan without any fuss.', 'csat', 5, [S, B], 'positive'),
    ("Refunded to a card that expired in June. Now I'm told I have to wait for it to bounce back.", 'csat', 1, [B], 'negative'),
    ("Site crashed after I'd filled in a long form. Lost everything.", 'nps', 6, [P], 'negative'),
    ("Easy to use app, everything is where you'd expect it to be.", 'ces', 4, [U], 'positive'),
    ("Half my order arrived. The other half is 'on its way', apparently, since last Thursday.", 'nps', 5, [D], 'negative'),
    ('@here is anyone actually reading these?? Chat said 2 minute wait, I sat there for 35 minutes and then it closed on me.', 'csat', 1, [W], 'negative'),
    ('Website is painfully slow on mobile.', 'nps', 6, [U], 'negative'),
    ('Kept being told it was a known issue and would be fixed soon. Soon was a month ago.', 'nps', 3, [P, W], 'negative'),
    ('Agent went quiet for 15 minutes mid-chat, then came back and asked me to repeat my postcode.', 'nps', 6, [S, W], 'negative'),
    ('Item arrived damaged. The box looked like it had been kicked down the street.', 'nps', 6, [D, P], 'negative'),
    ("Couldn't find any way to contact a person on the website. Every link goes back to the FAQ.", 'nps', 6, [U], 'negative'),
    ('The recording said the wait was about 5 minutes. It was 47. I timed it.', 'nps', 6, [W], 'negative'),
    ('Chat agent kept pasting the same canned answer. Asked a simple question about my order, got a link to the FAQ three times.', 'nps', 5, [S], 'negative'),
    ('Far too many steps just to change my address.', 'ces', 2, [U], 'negative'),
    ('Invoice had the wrong company name on it AGAIN. Our finance team rejected it.', 'csat', 2, [B], 'negative'),
    ('Waited in all day for a delivery that never came, and nobody told me.', 'nps', 3, [D], 'negative'),
    ('Password reset email never arrives.', 'nps', 0, [P], 'negative'),
    ("Delivery window was 7am to 9pm. That's not a window, that's a day.", 'csat', 2, [D], 'negative'),
    ('Wrong item delivered, and the right one is apparently out of stock now.', 'nps', 1, [D], 'negative'),
    ("Had to pay return postage on a faulty item. That's not right.", 'csat', 1, [P, D], 'negative'),
    ('Hold queue is unbearable at the moment. Are you short-staffed?', 'nps', 6, [W], 'negative'),
    ('Fine, though I had to rearrange my afternoon around a four-hour slot.', 'csat', 3, [D], 'neutral'),
    ('Not impressed.', 'nps', 6, [O], 'negative'),
    ('Not bad', 'nps', 8, [O], 'positive'),
    ('meh', 'nps', 7, [O], 'neutral'),
    ('Useless', 'ces', 2, [O], 'negative'),
    ('Brilliant service', 'nps', 9, [O], 'positive'),
    ('Quick and painless, which is not what I expected from a billing call!', 'csat', 4, [B, W], 'positive'),
    ("Really clear explanation of my bill. First time I've actually understood it.", 'nps', 10, [B], 'positive'),
    ('Nice enough chap, bit rushed.', 'nps', 8, [S], 'neutral'),
    ('Driver was fine, but the box had clearly been dropped.', 'csat', 3, [D], 'negative'),
    ('Thanks Carlos!', 'ces', 4, [S], 'positive'),
    ('Hold time was about 15 minutes, which is too long, but the person who answered was nice.', 'nps', 8, [W, S], 'neutral'),
    ('Direct debit taken two days early and it put me into my overdraft. The bank charged me £25 - who pays that?', 'nps', 5, [B], 'negative'),
    ('The live tracking map is brilliant. Knew exactly when to put the kettle on.', 'nps', 9, [D], 'positive'),
    ('Ordered in two minutes, really smooth.', 'csat', 5, [U], 'positive'),
    ("Nobody could explain what the 'service adjustment' on my bill is for.", 'nps', 3, [B], 'negative'),
    ("No tracking updates for five days, then suddenly 'delivered' at 9pm. It wasn't.", 'nps', 3, [D], 'negative'),
    ('It was alright', 'csat', 3, [O], 'neutral'),
    ('Refund came through in about a week. Fine.', 'nps', 7, [B], 'neutral'),
]

# Written and labelled after tuning; never tuned on. Comment only (no survey score).
HELD_OUT: list[tuple[str, list[str], str]] = [
    ("The call centre kept me on hold for 50 minutes and then hung up on me.", [W], "negative"),
    ("I was billed for a month after I cancelled my subscription.", [B], "negative"),
    ("Your engineer was rude and didn't listen to a word I said.", [S], "negative"),
    ("The kettle stopped working after two days.", [P], "negative"),
    ("The courier left the parcel on the doorstep in the rain.", [D], "negative"),
    ("I couldn't work out how to update my card details on the website.", [U], "negative"),
    ("Fast delivery and the packaging was great.", [D], "positive"),
    ("Maria in billing explained every charge and refunded the extra fee.", [S, B], "positive"),
    ("Still waiting for my refund after a month.", [B, W], "negative"),
    ("The new app is so easy to use, love it.", [U], "positive"),
    ("The screen was cracked when it arrived.", [P, D], "negative"),
    ("Nobody called me back like they promised.", [W], "negative"),
    ("Friendly staff, quick service.", [S, W], "positive"),
    ("The checkout page kept freezing so I gave up.", [P, U], "negative"),
    ("Okay experience overall, nothing special.", [O], "neutral"),
    ("Your prices have gone up again and the service has got worse.", [B], "negative"),
    ("The driver was really helpful and carried the sofa inside.", [D, S], "positive"),
    ("It took three weeks to get a reply to my email.", [W], "negative"),
    ("Good.", [O], "positive"),
    ("The instructions were confusing and the part was missing from the box.", [U, P], "negative"),
    ("Thank you Jenny for sorting out my account so quickly.", [S, W], "positive"),
    ("I was charged the wrong amount and the agent couldn't tell me why.", [B, S], "negative"),
]


def measure(rows: list[tuple[str, str | None, int | None, list[str], str]]) -> dict[str, float]:
    """Theme and sentiment agreement with the labels (comment only, and with the survey score as a hint)."""
    n = len(rows)
    exact = primary = tp = fp = fn = sent = sent_hint = 0
    for comment, survey, score, gold, mood in rows:
        got = offline_themes(comment)
        exact += set(got) == set(gold)
        primary += got[0] in gold
        tp += len(set(got) & set(gold))
        fp += len(set(got) - set(gold))
        fn += len(set(gold) - set(got))
        sent += offline_sentiment(comment) == mood
        sent_hint += offline_sentiment(comment, survey=survey, score=score) == mood
    return {"n": n, "themes_exact": exact / n, "main_theme": primary / n, "precision": tp / (tp + fp),
            "recall": tp / (tp + fn), "sentiment": sent / n, "sentiment_with_score": sent_hint / n}


def sample_comments() -> list[dict[str, str]]:
    with SAMPLE.open(encoding="utf-8") as f:
        return [r for r in csv.DictReader(f) if r["comment"].strip()]


# ---- themes and sentiment ------------------------------------------------------------------------


def test_labelled_set_comes_from_the_bundled_sample() -> None:
    comments = {r["comment"]: r for r in sample_comments()}
    assert len(LABELLED) >= 40
    for comment, survey, score, themes, mood in LABELLED:
        assert comments[comment]["survey"] == survey and int(comments[comment]["score"]) == score
        assert set(themes) <= {W, B, S, P, D, U, O} and mood in ("negative", "neutral", "positive")


def test_offline_accuracy_on_the_labelled_sample() -> None:
    m = measure(LABELLED)
    # Observed: main theme 0.95, exact set 0.82, precision 0.90, recall 0.96, sentiment 0.89 (0.98 with the score).
    assert m["main_theme"] >= 0.9 and m["themes_exact"] >= 0.75
    assert m["precision"] >= 0.85 and m["recall"] >= 0.9
    assert m["sentiment"] >= 0.85 and m["sentiment_with_score"] >= 0.95


def test_offline_accuracy_on_the_held_out_set() -> None:
    m = measure([(c, None, None, t, s) for c, t, s in HELD_OUT])
    # Observed: main theme 1.00, exact set 0.73, precision 1.00, recall 0.81, sentiment 0.68: every miss is a
    # factual complaint with no feeling words ("The kettle stopped working"), read as neutral without a score.
    assert m["main_theme"] >= 0.9 and m["precision"] >= 0.9 and m["recall"] >= 0.75
    assert m["sentiment"] >= 0.6


@pytest.mark.parametrize("comment, mood", [
    ("Not bad", "positive"), ("Not good enough.", "negative"), ("Not impressed.", "negative"),
    ("Well packaged, on time, no complaints at all.", "positive"),
    ("Collected from my door at a time that suited me. Couldn't be simpler.", "positive"),
    ("I'm not good with technology and she never once made me feel stupid. So patient.", "positive"),
    ("Driver was fine, but the box had clearly been dropped.", "negative"),
    ("The agent was not helpful.", "negative"), ("Not slow at all, great.", "positive"),
])
def test_sentiment_reads_negation_and_contrast(comment: str, mood: str) -> None:
    assert offline_sentiment(comment) == mood


def test_every_sample_comment_gets_known_themes_and_a_sentiment() -> None:
    known = set(ThemeSet().all)
    for r in sample_comments():
        themes = offline_themes(r["comment"])
        assert 1 <= len(themes) <= 3 and set(themes) <= known
        assert offline_sentiment(r["comment"], survey=r["survey"], score=int(r["score"])) in (
            "negative", "neutral", "positive")


def test_the_theme_list_is_configurable() -> None:
    custom = ThemeSet.of({"billing": [], "packaging": ["box", "wrapped", "packaging"], "Opening Hours": []})
    assert custom.all == ("billing", "packaging", "opening hours", OTHER)
    assert offline_themes("Three boxes for one phone case: far too much packaging.", custom) == ["packaging"]
    assert offline_themes("Your opening hours are too short.", custom) == ["opening hours"]
    assert offline_themes("Charged twice.", custom) == ["billing"]
    assert offline_themes("The app crashed.", custom) == [OTHER]
    assert Assistant.offline(themes=custom).classify("Lovely wrapping").themes == [OTHER]
    with pytest.raises(ValueError):
        ThemeSet.of(["other"])


# ---- drafts ----------------------------------------------------------------------------------------


def test_offline_drafts_never_hide_behind_policy_on_any_sample_comment() -> None:
    a = Assistant.offline("no OpenAI key")
    for r in sample_comments():
        for variant in (0, 1, 2):
            d = a.draft_reply(DraftInput(comment=r["comment"], survey=r["survey"], score=int(r["score"]),
                                         customer_name=r["customer_name"], owner_name="Alice Martin"),
                              variant=variant)
            assert "policy" not in d.text.lower() and forbidden_phrases(d.text) == [], d.text
            assert d.method == "offline" and d.label == "Drafted offline (no OpenAI key)"
            assert len(d.text) <= 3000 and d.text.endswith("Alice")


def test_a_complaint_draft_follows_resolved_in_order_and_sounds_human() -> None:
    comment = "Three different people, three different answers. Nobody seemed to know what the actual policy was."
    text = offline_draft(DraftInput(comment=comment, survey="csat", score=1, customer_name="Rachel Evans",
                                    owner_name="Bob Okafor"), ["staff attitude"], "negative")
    paragraphs = text.split("\n\n")
    assert paragraphs[0] == "Hi Rachel,"
    respond, empathize, solve, verify = paragraphs[1], paragraphs[2], paragraphs[3], paragraphs[4]
    assert respond.startswith("Thank you")                       # respond: person first, thanked
    assert re.search(r"\bsorry\b", empathize)                    # empathize and apologize
    assert "I'll" in solve and re.search(r"tell me|all ears", solve)  # seek to solve; open to their idea
    assert verify.startswith("If ") and verify.endswith("?")     # verify the solution with them
    assert "policy" not in text.lower() and comment not in text  # never echoes the customer's words back
    assert text.endswith("Best wishes,\nBob")


def test_drafts_vary_by_theme_and_regenerate_gives_another() -> None:
    a = Assistant.offline()
    texts = {t: a.draft_reply(DraftInput(comment=c, survey="nps", score=2)).text for t, c in (
        (B, "Charged twice this month."), (D, "Parcel left in the rain."), (W, "Waited 40 minutes on hold."))}
    assert len(set(texts.values())) == 3
    assert "40 minutes" in texts[W] and "bill" in texts[B] and "deliver" in texts[D]
    inp = DraftInput(comment="Charged twice this month.", survey="nps", score=2)
    assert a.draft_reply(inp, variant=1).text != a.draft_reply(inp).text
    assert a.draft_reply(inp, variant=1).variant == 1


def test_praise_gets_a_thank_you_not_an_apology() -> None:
    d = Assistant.offline().draft_reply(DraftInput(comment="Brilliant, thank you", survey="nps", score=10,
                                                   customer_name="Oliver Barnes"))
    assert d.text.startswith("Hi Oliver,") and "Thank you" in d.text and "sorry" not in d.text.lower()


def test_no_name_or_odd_names_give_a_plain_greeting() -> None:
    for name in (None, "", "dana@example.com", "12345"):
        text = offline_draft(DraftInput(comment="Slow.", customer_name=name), ["wait time"], "negative")
        assert text.startswith("Hello,\n\n")


@pytest.mark.parametrize("phrase", [
    "That is our policy.", "Company policies don't allow it.", "Please read our terms and conditions.",
    "We apologise for any inconvenience caused.", "You are a valued customer.", "As an AI, I cannot.",
    "Our rules say no.", "We are not allowed to refund it.",
])
def test_the_guard_knows_rules_talk_and_stock_phrases(phrase: str) -> None:
    assert forbidden_phrases(phrase)
    assert len(FORBIDDEN) >= 6


# ---- summaries --------------------------------------------------------------------------------------


def test_offline_summary_quotes_real_comments_verbatim() -> None:
    rows = sample_comments()
    comments = [CommentIn(id=r["id"], text=r["comment"], survey=r["survey"], score=int(r["score"])) for r in rows]
    bullets = offline_summary(comments, ThemeSet())
    assert len(bullets) == 3 and len({b.theme for b in bullets}) == 3
    texts = {c.id: c.text for c in comments}
    for b in bullets:
        assert b.quote in texts[b.comment_id] and len(b.quote) <= 200
        assert not has_personal_data(b.quote)
        assert b.point.startswith(b.theme[:1].upper() + b.theme[1:]) and "comments" in b.point
    assert len({b.comment_id for b in bullets}) == 3


def test_a_week_of_few_themes_gets_fewer_bullets_and_no_quote_with_personal_data() -> None:
    comments = [CommentIn(id="1", text="Refund not received. Call me on 07700 900461."),
                CommentIn(id="2", text="The refund is missing. Email me at a@b.co")]
    (b,) = offline_summary(comments, ThemeSet())
    assert b.theme == B and b.quote in ("Refund not received.", "The refund is missing.")
    s = Assistant.offline().summarize_week([])
    assert s.bullets == [] and s.reason == "no comments"


def test_locate_quote_forgives_spacing_case_and_curly_quotes_but_nothing_else() -> None:
    text = "Was told 3-5 working days for the refund. It's been 19."
    assert locate_quote("was told  3-5 working days", text) == "Was told 3-5 working days"
    assert locate_quote("It\u2019s been 19.", text) == "It's been 19."
    assert locate_quote("It's been 20.", text) is None
    assert locate_quote("[email]", "write to [email]") == "[email]"  # found, but…
    assert has_personal_data("write to a@b.co")                         # …quotes are checked on the original


# ---- names ------------------------------------------------------------------------------------------

ROSTER = ["Alice Martin", "Bob Okafor", "Carlos Ruiz", "Grace Kim", "Sam Taylor", "Samira Haddad", "Priya Nair",
          "Tom Becker", "Jonas Berg", "Meera Shah"]


@pytest.mark.parametrize("comment, names", [
    ("Thanks to Priya and Tom, who between them untangled three months of wrong bills.", ["Priya Nair", "Tom Becker"]),
    ("Sam or Samira, not sure which one it was, but someone on the returns team sorted it.", []),
    ("bob in chat = legend", ["Bob Okafor"]),
    ("Handled with grace and patience. Thank you!", []),
    ("Samira Haddad rebooked my delivery for a Saturday at no charge.", ["Samira Haddad"]),
    ("José and Zoë at the store were so kind to my mum", []),
    ("PRIYA NAIR IS A STAR", ["Priya Nair"]),
])
def test_offline_names_match_the_roster_only(comment: str, names: list[str]) -> None:
    assert offline_names(comment, ROSTER) == names


def test_model_names_are_kept_only_if_the_roster_and_the_comment_agree() -> None:
    comment = "Tom was great, handled with grace."
    assert confirm_names(["Tom", "Grace Kim", "The CEO", "Alice Martin", "tom becker"], comment, ROSTER) == ["Tom Becker"]
    assert confirm_names(["Sam"], "Sam Taylor helped", ["Sam Taylor", "Sam Jones"]) == []


# ---- redaction ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("Email m.osei.work@example.org please", f"Email {EMAIL} please"),
    ("Call 07700 900461 or +44 20 7946 0958 or (555) 123-4567", f"Call {PHONE} or {PHONE} or {PHONE}"),
    ("Card 4111 1111 1111 1111, 4111-1111-1111-1111 and 378282246310005", f"Card {CARD}, {CARD} and {CARD}"),
    ("Card 1234 5678 9012 3456 (fails Luhn, still redacted)", f"Card {CARD} (fails Luhn, still redacted)"),
    ("Waited 40 minutes, 3-5 working days, £25, 7am to 9pm, on 2026-11-20, ticket 88213, 10/10",
     "Waited 40 minutes, 3-5 working days, £25, 7am to 9pm, on 2026-11-20, ticket 88213, 10/10"),
    ("It's been 19. 0800 123 4567 is the number", f"It's been 19. {PHONE} is the number"),
])
def test_redaction(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_luhn() -> None:
    assert luhn_ok("4111 1111 1111 1111") and not luhn_ok("1234 5678 9012 3456")


def test_the_sample_comment_with_contact_details_is_cleaned() -> None:
    (row,) = [r for r in sample_comments() if "07700" in r["comment"]]
    clean = redact(row["comment"])
    assert "07700" not in clean and "@" not in clean and PHONE in clean and EMAIL in clean
