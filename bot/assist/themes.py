"""Themes and sentiment without a model: a small lexicon per theme, and negation-aware sentiment.

The theme list is fixed and configurable (`ThemeSet`); the default is the six themes customer
feedback keeps coming back to, plus "other" for a comment that fits none. A custom theme without a
lexicon matches its own words. Sentiment weighs positive and negative words and phrases; a negator
("not", "never", "didn't", "no") flips the next few words, a clause after "but" or "though" counts
more than the one before it, and idioms ("not bad", "no complaints", "couldn't be simpler") are read
whole. With a survey score at hand, a comment with no sentiment words of its own takes the score's.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from bot.intake.surveys import score_sentiment

Sentiment = Literal["negative", "neutral", "positive"]
SENTIMENTS: tuple[Sentiment, ...] = ("negative", "neutral", "positive")

WAIT_TIME = "wait time"
BILLING = "billing"
STAFF_ATTITUDE = "staff attitude"
PRODUCT_DEFECT = "product defect"
DELIVERY = "delivery"
USABILITY = "usability"
OTHER = "other"
DEFAULT_THEMES: tuple[str, ...] = (WAIT_TIME, BILLING, STAFF_ATTITUDE, PRODUCT_DEFECT, DELIVERY, USABILITY)
MAX_THEMES = 3

# What each theme covers, for people and for the model's instructions.
DESCRIPTIONS: dict[str, str] = {
    WAIT_TIME: "how long things took: queues, hold times, slow or quick replies, call-backs, chasing",
    BILLING: "money: bills, invoices, charges, refunds, payments, prices, direct debits, plans, discounts",
    STAFF_ATTITUDE: "the people: friendly, rude, patient, helpful, knowledgeable, listening, explaining",
    PRODUCT_DEFECT: "something faulty or broken: damaged or faulty items, app or website bugs and crashes",
    DELIVERY: "getting things to and from the customer: deliveries, drivers, tracking, parcels, returns, collection",
    USABILITY: "how easy it is to use: website, app, forms, menus, steps, instructions, finding things",
    OTHER: "none of the other themes",
}

# Word-start patterns (matched at a word boundary, case-insensitive). Kept small and readable: a
# lexicon that is easy to reason about beats a clever one nobody can fix.
LEXICON: dict[str, tuple[str, ...]] = {
    WAIT_TIME: (
        r"wait(ed|ing|s)?\b", r"on hold", r"hold (queue|music|time)", r"queue(d|s)?\b", r"queuing",
        r"(forty|thirty|twenty|fifteen|ten|five) minutes", r"an hour", r"ages\b", r"forever", r"chas(e|ed|ing)\b",
        r"(rang|ring|call(ed)?) (me )?back", r"answered in", r"same day", r"in seconds", r"(days|weeks) ago",
        r"took (\w+ )?(days|weeks|long|ages|a while)", r"took \w+ (working )?days", r"still (waiting|nothing)",
        r"before my tea", r"soon was", r"short-staffed", r"getting through", r"take five minutes", r"went quiet",
        r"took (two|\d+) minutes", r"under (two|\d+) minutes", r"(a|one|\d+) (week|day)s? (later|after)",
    ),
    BILLING: (
        r"bill(s|ed|ing)?\b", r"invoice", r"charg(e|ed|es|ing)\b", r"refund", r"payments?\b", r"paid", r"price",
        r"direct debit", r"overdraft", r"balance", r"£\s?\d", r"\$\s?\d", r"€\s?\d", r"(payment|cheaper) plan",
        r"discount", r"money", r"overcharg", r"fees?\b", r"subscription", r"po number", r"service adjustment",
        r"what i owe", r"taking money", r"billed",
    ),
    STAFF_ATTITUDE: (
        r"agent", r"staff", r"chap\b", r"lady\b", r"guy\b", r"rude", r"polite", r"friendly", r"helpful",
        r"unhelpful", r"patient", r"knew (her|his|their) stuff", r"knowledgeable", r"listen", r"understood me",
        r"attitude", r"manner", r"canned answer", r"made me feel", r"rushed", r"nobody (could|seemed|knew)",
        r"different people", r"different answers", r"advice", r"legend", r"a star", r"superstar",
        r"stayed on the line", r"apologi[sz]", r"talking to a person", r"read what i", r"the person who",
        r"went quiet", r"were (both )?great",
    ),
    PRODUCT_DEFECT: (
        r"faulty", r"fault\b", r"defect", r"broken", r"\bbroke\b", r"damaged", r"crash(ed|es|ing)?\b",
        r"bugs?\b", r"buggy", r"glitch", r"log(s|ging|ged)? me out", r"logged out", r"not working",
        r"stopped working", r"(doesn't|does not|didn't|won't|wouldn't) (work|load|print|open)", r"factory reset",
        r"lost (all|everything|the whole)", r"known issue", r"timing out", r"timed out", r"never arrives",
        r"reset email", r"still not fixed", r"made things worse", r"keeps? (crashing|freezing)", r"freez(e|es|ing)",
        r"disconnected", r"went round in circles",
    ),
    DELIVERY: (
        r"deliver(y|ed|ies|ing)?\b", r"parcel", r"package\b", r"courier", r"driver", r"tracking", r"tracked",
        r"dispatch", r"ship(ped|ping)", r"postage", r"returns?\b", r"collect(ed|ion)?\b", r"click and collect",
        r"drop-off", r"neighbour", r"safe place", r"slot\b", r"delivery window", r"out of stock", r"wrong item",
        r"half my order", r"in transit", r"rescheduled", r"on its way", r"packag(ed|ing)", r"wrapped", r"turned up",
        r"rebooked", r"dropped it off", r"upstairs", r"new size",
    ),
    USABILITY: (
        r"website", r"\bsite\b", r"\bapps?\b", r"menu", r"faq", r"complicated", r"confusing", r"clunky",
        r"couldn't find", r"user-friendly", r"intuitive", r"smooth", r"qr code", r"too many", r"where you'd expect",
        r"help pages", r"chatbot", r"fiddly", r"step-by-step", r"screenshots", r"security questions",
        r"read it twice", r"easy to use", r"(a couple of|two|few) clicks", r"(many|too many|\d+) steps",
    ),
}

# Weak cues: they count half, and make a theme only when nothing stronger matched, or alongside
# another weak cue ("slow" alone could be the website or the reply).
WEAK: dict[str, tuple[str, ...]] = {
    WAIT_TIME: (r"quick(ly|er)?\b", r"fast(er)?\b", r"slow(ly)?\b", r"replied", r"reply\b", r"within",
                r"late\b", r"connected", r"in one (call|go)", r"start to finish", r"\d+ ?min(ute)?s?\b", r"hours?\b",
                r"prompt(ly)?\b", r"mid-chat", r"first contact"),
    BILLING: (r"pay(ing)?\b", r"cost", r"account number", r"finance", r"cancell?ed", r"statement", r"credit(ed)?\b",
              r"(new|old) plan"),
    STAFF_ATTITUDE: (r"people\b", r"someone\b", r"team\b", r"human\b", r"explain(ed|ing)?\b", r"thanks? to\b",
                     r"nice\b", r"lovely", r"kind(ly|ness)?\b", r"car(ed|ing)\b", r"treated", r"was great",
                     r"person\b"),
    PRODUCT_DEFECT: (r"fix(ed)?\b", r"dropped\b", r"disappeared", r"kicked", r"error"),
    DELIVERY: (r"\border(ed|s)?\b", r"\bbox(es)?\b", r"\bstore\b", r"door\b", r"arriv(e|ed|al|es)\b", r"estimate\b",
               r"exchange", r"left (it|my)", r"flats"),
    USABILITY: (r"online", r"\bpages?\b", r"\bforms?\b", r"option", r"\blinks?\b", r"clear(er|ly)?\b", r"easy",
                r"easiest", r"easier", r"simple", r"simpler", r"steps?\b", r"print\b", r"mobile", r"instructions",
                r"painless", r"hassle", r"clicks?\b", r"find (the|what|any)", r"navigat"),
}
WEAK_WEIGHT = 0.5
# A capitalised name after a thank-you ("Thanks Carlos!", "thanks to Priya") is about the people.
_THANKS_NAME = re.compile(r"\b(?:[Tt]hanks?(?: you)?,?(?: to)?|[Bb]ig thanks to)\s+[A-Z][a-z]+")

# Sentiment. Weights: 1 for a plain word, 2 for a strong one. Phrases are read before single words
# and their words are then skipped, so "not bad" is one positive phrase, not a negated "bad".
_PHRASES: dict[str, float] = {
    r"not bad": 1, r"no complaints": 2, r"can'?t fault": 2, r"couldn'?t be (simpler|easier|better|happier)": 2,
    r"no (fuss|hassle|problems?|transfers|hold music)": 1, r"without (any )?fuss": 1, r"more of this": 1,
    r"never once made me feel": 2, r"wasn'?t (one|a battle)": 1, r"not the end of the world": 0.5,
    r"(was|were|got) sorted": 1, r"sorted (it|the|my|out|in|on)": 1, r"spot on": 2, r"top notch": 2,
    r"keep it\b": 1, r"turned a bad week around": 2, r"kettle on": 0.5, r"did the job": 0.5, r"does the job": 0.5,
    r"nothing (special|to write home about)": -0.5, r"nothing for me to chase": 1, r"got (there|it) in the end": -0.5,
    r"not impressed": -2, r"not (good|great|happy|acceptable|right|ok|okay|fixed|my problem)": -2,
    r"not good enough": -2, r"not what i expected": 0, r"waste of time": -2, r"not (a|the) window": -1,
    r"(never|didn'?t|did not) (arriv\w*|came|come|turned up|rang|ring|called|call|happen\w*)": -2,
    r"nobody (did|turned up|told|rang|called|could|seemed|knew)": -2, r"no one (did|turned up|told|rang|called)": -2,
    r"still (waiting|nothing|not|no)": -2, r"it (wasn'?t|didn'?t)\.": -2, r"(third|second) time": -1,
    r"had to (chase|explain|repeat|start|open|pay|read|wait|rearrange|take)": -1, r"(two|three) times": -1,
    r"every\.? single\.? time": -2, r"\bagain\b": -1, r"should have": -1, r"shouldn'?t (need|have)": -1,
    r"too (long|many|slow)": -1.5, r"which one do i pay": -1, r"who pays": -1, r"went round in circles": -2,
    r"lost (all|everything|the whole)": -2, r"made things worse": -2, r"short-staffed": -1,
    r"(out of|over) (an|one) hour": -1, r"didn'?t answer": -1, r"not sure which": 0, r"(thank|thanks) you": 1,
    r"wish i'?d asked sooner": 1, r"such a simple thing": 0.5, r"so rare": 0.5, r"(i|we) timed it": -1,
    r"what do i pay": -1, r"for different amounts": -1, r"is a mess": -2, r"nobody could explain": -2,
    r"took (a while|long|ages)": -1, r"could be quicker": -1, r"could be (a lot )?clearer": -1,
    r"could be more accurate": -1, r"bit (rushed|clunky|slow)": -1, r"no (tracking|note|updates|way)": -1,
    r"got a link": -1, r"canned answer": -1, r"in the end": -0.5, r"not (too )?bad": 1,
    r"(sorted|fixed|did|found) it (myself|ourselves)": -2, r"took (\w+ )?(working )?(days|weeks)": -1,
    r"(have|had) to wait": -1, r"have to (chase|call|pay|ring|explain)": -1, r"(only )?half (my|the) order": -1.5,
    r"since last": -0.5, r"went quiet": -1.5, r"asked me to repeat": -1, r"put me into": -1,
    r"couldn'?t (have been|be) (simpler|easier|better|happier|quicker)": 2, r"made (a|all the) difference": 1.5,
    r"deserves a (pay rise|raise|medal|promotion)": 2, r"give (her|him|them) a (medal|raise|pay rise)": 2,
    r"didn'?t have to": 1, r"tracked down": 1, r"well handled": 2, r"10/10": 2, r"above and beyond": 2,
    r"followed up": 1, r"put (it )?right": 1, r"took the time": 1.5, r"found (me|a way|my)": 1,
    r"(answered|sorted|done|fixed) in (under|about|seconds|minutes|\d+|two|five|ten)": 1, r"no effort": 1.5,
    r"much better": 1.5, r"will use (\w+ )?again": 1, r"stayed on the line": 1.5, r"until it worked": 1,
    r"told me exactly": 1, r"in the first place": -1, r"would be nice": -0.5,
    r"took (\w+ )?(emails|calls|attempts|phone calls)": -1, r"charged twice|double charged": -1.5,
    r"had to threaten": -2, r"i want (the|my) .{0,20}back": -1, r"that was last": -1.5, r"so long": -1,
    r"(hasn'?t|didn'?t|not|wasn'?t|weren'?t) (read|listen\w*)": -1.5, r"didn'?t even": -1.5,
    r"kept (failing|crashing|timing out|freezing|logging)": -1.5, r"(wasn'?t|weren'?t|isn'?t) ready": -1.5,
    r"isn'?t mine": -1.5, r"none (were|was) available": -1.5, r"without asking": -1.5, r"(was|were) meant to": -1,
    r"longer than": -1, r"passed around": -1.5, r"fobbed off": -2, r"out of date": -1, r"don'?t match": -1,
}
_WORDS: dict[str, float] = {
    # positive
    "great": 2, "excellent": 2, "brilliant": 2, "perfect": 2, "fantastic": 2, "amazing": 2, "superb": 2,
    "outstanding": 2, "impressed": 2, "impressive": 2, "legend": 2, "star": 1, "best": 2, "love": 2, "loved": 2,
    "good": 1, "nice": 1, "lovely": 2, "friendly": 1, "helpful": 1, "polite": 1, "patient": 1, "kind": 1,
    "quick": 1, "quickly": 1, "fast": 1, "easy": 1, "easiest": 2, "easier": 1, "simple": 1, "simpler": 1,
    "smooth": 1, "painless": 1, "clear": 1, "thanks": 1, "thank": 1, "appreciated": 1, "happy": 1, "pleased": 1,
    "genuinely": 0.5, "useful": 1, "fine": 0.5, "ok": 0.3, "okay": 0.3, "decent": 0.5, "satisfactory": 0.5,
    "reasonable": 0.5, "alright": 0.3, "sorted": 1, "solved": 1, "resolved": 0.5, "fixed": 0.5, "right": 0.3,
    "wonderful": 2, "awesome": 2, "efficient": 1, "professional": 1, "recommend": 2, "relieved": 1,
    "faster": 1, "early": 0.5, "spotless": 1, "well": 0.3, "exactly": 0.5, "better": 0.5, "favourite": 1,
    "👍": 2, "⭐": 2, "🙂": 1, "😊": 1, "❤️": 2,
    # negative
    "bad": -1, "poor": -2, "terrible": -2, "awful": -2, "horrible": -2, "useless": -2, "rubbish": -2,
    "disappointing": -2, "disappointed": -2, "unacceptable": -2, "ridiculous": -2, "ridiculously": -2,
    "unbearable": -2, "painfully": -1, "slow": -1, "rude": -2, "unhelpful": -2, "wrong": -1, "late": -1,
    "damaged": -2, "broken": -2, "faulty": -2, "failed": -2, "lost": -1, "missing": -1, "never": -1,
    "complicated": -1, "confusing": -1, "clunky": -1, "crashed": -2, "crash": -1, "mess": -2, "worse": -2,
    "frustrating": -2, "frustrated": -2, "angry": -2, "annoyed": -1, "chase": -1, "chased": -1, "dropped": -1,
    "rushed": -1, "meh": -0.5, "excessive": -1, "unsurprisingly": -1, "apparently": -0.5, "nobody": -1,
    "problem": -0.5, "issue": -0.5, "twice": -0.5, "kicked": -1, "dreading": 0, "waste": -2, "dreadful": -2,
    "overcharged": -2, "stuck": -1, "cancelled": -0.5, "disconnected": -2, "quiet": -0.5, "average": -0.3,
    "so-so": -0.3, "ugh": -1, "disappeared": -1.5, "overdraft": -1.5, "disaster": -2, "failing": -1.5,
    "silence": -1.5, "annoying": -1.5, "queued": -0.5, "eventually": -0.5, "seamless": 2, "helped": 1,
    "reassuring": 1.5, "handy": 1, "straightforward": 1, "untangled": 1.5, "saving": 1, "cheaper": 1,
    "patience": 1.5, "appreciate": 1, "👎": -2, "😡": -2, "🙁": -1,
}
_NEGATORS = {"not", "no", "never", "nobody", "nothing", "without", "hardly", "barely", "isn't", "wasn't",
             "aren't", "weren't", "don't", "doesn't", "didn't", "can't", "couldn't", "won't", "wouldn't",
             "shouldn't", "haven't", "hasn't", "hadn't", "cannot", "isnt", "wasnt", "dont", "doesnt", "didnt",
             "cant", "couldnt", "wont"}
_CONTRAST = {"but", "though", "although", "however", "yet"}
_NEGATION_REACH = 3   # words a negator reaches
_AFTER_CONTRAST = 1.5  # weight of the clause after "but"
_THRESHOLD = 1.0      # |net| below this is neutral


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    out = "".join(c for c in decomposed if not unicodedata.combining(c))
    return out.replace("\u2019", "'").replace("\u2018", "'").lower()


def _compile(patterns: Iterable[str]) -> re.Pattern[str]:
    # One lookbehind for the whole alternation: the regex engine then tries the words only at word starts.
    return re.compile(r"(?<![\w'])(?:" + "|".join(patterns) + ")", re.IGNORECASE)


@dataclass(frozen=True)
class ThemeSet:
    """The themes to classify into, each with its lexicon and a description; "other" is always there."""

    themes: tuple[str, ...] = DEFAULT_THEMES
    lexicon: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(LEXICON))
    weak: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(WEAK))
    descriptions: Mapping[str, str] = field(default_factory=lambda: dict(DESCRIPTIONS))

    @classmethod
    def of(cls, themes: Sequence[str] | Mapping[str, Sequence[str]] | None = None) -> ThemeSet:
        """A theme set from names (built-in lexicons where known) or {name: [keywords]}."""
        if not themes:
            return cls()
        names = [" ".join(str(t).lower().split()) for t in themes]
        names = [n for n in dict.fromkeys(names) if n and n != OTHER]
        if not names:
            raise ValueError("the theme list needs at least one theme besides \"other\"")
        extra = {" ".join(str(k).lower().split()): tuple(v) for k, v in themes.items()} \
            if isinstance(themes, Mapping) else {}
        lexicon: dict[str, tuple[str, ...]] = {}
        descriptions: dict[str, str] = {OTHER: DESCRIPTIONS[OTHER]}
        for n in names:
            words = tuple(re.escape(k.lower()) for k in extra.get(n, ()))
            own = tuple(re.escape(w) for w in n.split() if len(w) > 2)
            lexicon[n] = LEXICON.get(n, ()) + words + (() if n in LEXICON else own)
            descriptions[n] = DESCRIPTIONS.get(n) or (f"comments about {n}" + (
                f" ({', '.join(extra[n])})" if extra.get(n) else ""))
        weak = {n: WEAK.get(n, ()) for n in names}
        return cls(themes=tuple(names), lexicon=lexicon, weak=weak, descriptions=descriptions)

    @property
    def all(self) -> tuple[str, ...]:
        """The themes plus "other"."""
        return (*self.themes, OTHER)

    @cached_property
    def _patterns(self) -> dict[str, tuple[re.Pattern[str] | None, re.Pattern[str] | None]]:
        return {t: (_theme_pattern(t, tuple(self.lexicon.get(t, ()))), _theme_pattern(t, tuple(self.weak.get(t, ()))))
                for t in self.themes}

    def pattern(self, theme: str) -> re.Pattern[str] | None:
        """The theme's strong cues as one pattern (None for a theme without any)."""
        return self._patterns[theme][0] if theme in self._patterns else None

    def weak_pattern(self, theme: str) -> re.Pattern[str] | None:
        return self._patterns[theme][1] if theme in self._patterns else None


_PATTERNS: dict[tuple[str, tuple[str, ...]], re.Pattern[str] | None] = {}
_DEFAULT = ThemeSet()


def _theme_pattern(theme: str, patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    key = (theme, patterns)
    if key not in _PATTERNS:
        _PATTERNS[key] = _compile(patterns) if patterns else None
    return _PATTERNS[key]


def theme_scores(comment: str, themes: ThemeSet | None = None) -> dict[str, float]:
    """Each matching theme's keyword score: 1 per strong cue, half per weak one."""
    themes = themes or _DEFAULT
    text = _fold(comment or "")
    out: dict[str, float] = {}
    for theme in themes.themes:
        strong, weak = themes.pattern(theme), themes.weak_pattern(theme)
        score = (len(strong.findall(text)) if strong else 0) + WEAK_WEIGHT * (len(weak.findall(text)) if weak else 0)
        if theme == STAFF_ATTITUDE and _THANKS_NAME.search(comment or ""):
            score += 1
        if score:
            out[theme] = score
    return out


def offline_themes(comment: str, themes: ThemeSet | None = None) -> list[str]:
    """The comment's themes by keyword (strongest first, at most three), or ["other"].

    A theme needs one strong cue or two weak ones; when none does, the single best weak cue stands.
    """
    themes = themes or _DEFAULT
    scores = theme_scores(comment, themes)
    order = {t: i for i, t in enumerate(themes.themes)}
    ranked = sorted(scores, key=lambda t: (-scores[t], order[t]))
    picked = [t for t in ranked if scores[t] >= 1][:MAX_THEMES]
    if not picked and ranked:
        picked = [ranked[0]]
    return picked or [OTHER]


# All phrases in one pattern, one named group each: a single scan finds them, leftmost first, earlier
# phrases winning at the same position; `lastgroup` says which matched.
_PHRASE_WEIGHTS = {f"p{i}": w for i, w in enumerate(_PHRASES.values())}
_PHRASE_RE = re.compile(r"(?<![\w'])(?:" + "|".join(f"(?P<p{i}>{p})" for i, p in enumerate(_PHRASES))
                        + r")(?![\w'])")
_TOKEN = re.compile(r"[\w']+(?:-[\w']+)*|[^\w\s]", re.UNICODE)


def sentiment_score(comment: str) -> float:
    """The comment's net polarity: above zero positive, below negative."""
    text = _fold(comment or "")
    # Split into clauses at contrast words; the clause after "but" weighs more.
    net = 0.0
    spans: list[tuple[int, int]] = []
    contrast_at = [m.start() for m in re.finditer(r"\b(?:but|though|although|however|yet)\b", text)]

    def weight_at(pos: int) -> float:
        return _AFTER_CONTRAST if any(c < pos for c in contrast_at) else 1.0

    for m in _PHRASE_RE.finditer(text):
        spans.append((m.start(), m.end()))
        net += _PHRASE_WEIGHTS[m.lastgroup or ""] * weight_at(m.start())
    negated_until = -1
    for m in _TOKEN.finditer(text):
        if any(a <= m.start() < b for a, b in spans):
            continue
        word = m.group(0)
        index = m.start()
        if word in _NEGATORS or word.endswith("n't"):
            negated_until = m.end() + 1
            reach = 0
            for nxt in _TOKEN.finditer(text, m.end()):
                if nxt.group(0) in ".!?;," or nxt.group(0) in _CONTRAST:
                    break
                reach += 1
                negated_until = nxt.end()
                if reach >= _NEGATION_REACH:
                    break
            w = _WORDS.get(word, 0.0)
            net += w * weight_at(index)
            continue
        w = _WORDS.get(word)
        if w is None:
            continue
        if index < negated_until:
            # "not helpful" is negative; "not slow" is only mildly positive.
            w = -w if w > 0 else -w * 0.5
        net += w * weight_at(index)
    return net


def sentiment_from_score(survey: str | None, score: int | None) -> Sentiment | None:
    """What a survey answer alone says: NPS 0–6 negative, 9–10 positive; CSAT/CES 1–2 negative, 4–5 positive."""
    if survey is None or score is None:
        return None
    return score_sentiment(survey, score)  # type: ignore[return-value]


def offline_sentiment(comment: str, *, survey: str | None = None, score: int | None = None) -> Sentiment:
    """Negative, neutral or positive from the words; a comment with no sentiment words takes the score's."""
    net = sentiment_score(comment)
    if net >= _THRESHOLD:
        return "positive"
    if net <= -_THRESHOLD:
        return "negative"
    hint = sentiment_from_score(survey, score)
    if hint is not None and abs(net) < 0.5:
        return hint
    return "neutral"
