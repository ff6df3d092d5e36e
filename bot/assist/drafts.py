"""Reply drafts that follow RESOLVED, for the case owner to edit and send themselves.

A draft is five parts in the RESOLVED order (respond; empathize and apologize; solve; be open to the
customer's own idea; verify), between a greeting and a signature added here, never by the model: the
model never sees the customer's name or the owner's. Offline, the parts come from templates that vary
by theme and by `variant` (Regenerate), and pick up a detail from the comment ("40 minutes").

`guard` keeps two kinds of phrasing out of every draft, offline or not: hiding behind rules ("it's
our policy", "terms and conditions") and the robotic ("we apologise for any inconvenience", "valued
customer"). A model's sentence that has them is dropped; if that leaves a step empty, or the draft
has no apology or no question to verify with, the model's draft is refused and the offline one used.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.assist.schemas import DraftOut
from bot.assist.themes import BILLING, DELIVERY, OTHER, PRODUCT_DEFECT, STAFF_ATTITUDE, USABILITY, WAIT_TIME

MAX_DRAFT = 3000  # what a Slack text input holds


class DraftInput(BaseModel):
    """What a draft is written from. Names stay here: only the comment and the case's facts go to a model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    comment: str | None = None
    survey: str | None = None
    score: int | None = None
    touchpoint: str | None = None
    customer_name: str | None = None
    owner_name: str | None = None
    case_id: int | None = None
    response_id: int | None = None

    @classmethod
    def from_view(cls, view: Any) -> DraftInput:
        """From a `bot.cases.CaseView` (duck-typed: `case`, `response`, `owner`)."""
        r, c = view.response, view.case
        owner = getattr(view, "owner", None)
        return cls(comment=r.comment, survey=r.survey, score=r.score, touchpoint=r.touchpoint,
                   customer_name=r.customer_name, owner_name=getattr(owner, "name", None), case_id=c.id,
                   response_id=r.id)


# ---- guard -----------------------------------------------------------------------------------

FORBIDDEN: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bpolic(?:y|ies)\b", re.I), "policy"),
    (re.compile(r"\bterms (?:and|&) conditions\b|\bour terms\b|\bT&Cs?\b", re.I), "terms and conditions"),
    (re.compile(r"\b(?:company|our|the) (?:rules|procedures?|guidelines|regulations)\b", re.I), "rules"),
    (re.compile(r"\b(?:not|never) (?:allowed|permitted)\b|\bunable to make (?:an )?exceptions?\b", re.I), "not allowed"),
    (re.compile(r"\bany inconvenience\b|\binconvenience (?:this|that) (?:may|might) have caused\b", re.I),
     "any inconvenience"),
    (re.compile(r"\bvalued customer\b|\byour (?:call|feedback|business) is (?:very )?important to us\b", re.I),
     "valued customer"),
    (re.compile(r"\bas an ai\b|\blanguage model\b|\bI am an (?:AI|assistant)\b", re.I), "as an AI"),
    (re.compile(r"\bwe regret to inform\b|\bplease be advised\b|\bkindly note\b|\bper our\b", re.I), "stiff phrasing"),
]
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+[\"')\]]*|$)")
_APOLOGY = re.compile(r"\b(?:sorry|apologi[sz]e|apologies)\b", re.I)


def forbidden_phrases(text: str) -> list[str]:
    """Which forbidden kinds of phrasing `text` has (empty when none)."""
    return [name for rx, name in FORBIDDEN if rx.search(text)]


def _clean(part: str) -> tuple[str, bool]:
    """`part` without the sentences that hide behind rules or sound robotic; and whether any went."""
    kept, dropped = [], False
    for m in _SENTENCE.finditer(part):
        sentence = m.group(0).strip()
        if not sentence:
            continue
        if forbidden_phrases(sentence):
            dropped = True
            continue
        kept.append(sentence)
    return " ".join(kept).strip(), dropped


def repair_model_draft(out: DraftOut) -> tuple[dict[str, str], bool]:
    """The model's parts with forbidden phrasing removed, and whether any was; ValueError if unusable."""
    parts: dict[str, str] = {}
    repaired = False
    for name in ("respond", "empathize", "solve", "invite", "verify"):
        text, dropped = _clean(getattr(out, name))
        repaired |= dropped
        if not text:
            raise ValueError(f"nothing left of {name!r} once rules-talk and stock phrases were removed")
        parts[name] = text
    if not _APOLOGY.search(parts["empathize"] + " " + parts["respond"]):
        raise ValueError("the draft does not apologise")
    if "?" not in parts["verify"]:
        raise ValueError("the draft does not check the solution with the customer")
    return parts, repaired


# ---- assembling --------------------------------------------------------------------------------


def first_name(name: str | None) -> str | None:
    """The first word of a name, if it looks like a name (not an email or a number)."""
    if not name:
        return None
    word = name.strip().split()[0] if name.strip() else ""
    word = word.strip(",.;:")
    if not word or "@" in word or any(c.isdigit() for c in word) or len(word) > 40:
        return None
    return word[:1].upper() + word[1:]


def assemble(parts: dict[str, str], inp: DraftInput) -> str:
    """Greeting, the five parts as short paragraphs, a thank-you and the signature."""
    name = first_name(inp.customer_name)
    owner = first_name(inp.owner_name)
    body = [
        f"Hi {name}," if name else "Hello,",
        parts["respond"],
        f"{parts['empathize']}",
        f"{parts['solve']} {parts['invite']}".strip(),
        parts["verify"],
        "Thank you again for telling us. It really does help us do better.",
        f"Best wishes,\n{owner}" if owner else "Best wishes,",
    ]
    return "\n\n".join(p for p in body if p)[:MAX_DRAFT]


# ---- offline templates -------------------------------------------------------------------------

TOPIC = {
    WAIT_TIME: "how long you were kept waiting",
    BILLING: "the problem with your bill",
    STAFF_ATTITUDE: "how you were treated when you got in touch",
    PRODUCT_DEFECT: "the fault you ran into",
    DELIVERY: "what happened with your delivery",
    USABILITY: "how hard it was to get this done",
    OTHER: "your recent experience with us",
}

FEELING = {
    WAIT_TIME: ("Waiting {detail}when you just need an answer is exhausting, and you shouldn't have had to.",
                "Your time matters, and {detail_cap}is far too long to be left waiting."),
    BILLING: ("Worrying about a bill that isn't right is stressful, and sorting out our mistakes shouldn't fall "
              "to you.",
              "Money worries are the last thing you need, especially when the mistake was ours."),
    STAFF_ATTITUDE: ("Reaching out and not feeling listened to is upsetting, and it's not how anyone here wants "
                     "you to feel.",
                     "You deserved patience and real help, and it sounds like you didn't get either."),
    PRODUCT_DEFECT: ("Something not working when you're relying on it is really frustrating.",
                     "It's maddening when something you depend on lets you down, and I understand why you're "
                     "fed up."),
    DELIVERY: ("Planning your day around a delivery and then being let down is so frustrating.",
               "When a delivery goes wrong it costs you time and peace of mind, and I completely understand "
               "your frustration."),
    USABILITY: ("It should have been simple, and instead it took far more effort than it ever should.",
                "Struggling with something that ought to take a minute is frustrating, and that's on us, "
                "not you."),
    OTHER: ("It's clear this wasn't the experience you should have had, and I understand why you're "
            "disappointed.",
            "I can hear how disappointing this was, and you were right to tell us."),
}

APOLOGY = ("I'm truly sorry.", "I'm really sorry we let you down.", "I'm sorry, and I want to put it right.")

SOLVE = {
    WAIT_TIME: ("I'm going to be your direct contact until this is fully sorted, so you won't have to queue or "
                "explain it all again.",
                "I've taken this on personally, and I'll keep you updated myself rather than leaving you to "
                "chase us."),
    BILLING: ("I'd like to go through your account line by line, correct anything we got wrong, and make "
              "sure any money we owe you is returned.",
              "I'll check every charge on your account myself, fix what's wrong, and send you a clear "
              "breakdown so you can see exactly where things stand."),
    STAFF_ATTITUDE: ("I'll make sure the right people hear about this, and I'll personally see your issue "
                     "through from here.",
                     "I'll look into what happened on your call and make sure it's put right, and from now "
                     "on you can come straight to me."),
    PRODUCT_DEFECT: ("I'd like to get this fixed for you as quickly as possible, whether that's a repair, "
                     "a replacement or another option that suits you better.",
                     "I'll get the fault looked into straight away and keep you updated until it's working "
                     "properly."),
    DELIVERY: ("I'll track down exactly where things went wrong and arrange the next step at a time that "
               "really works for you.",
               "I'll chase this with the delivery team myself and make sure you get what you ordered, "
               "without you having to arrange it all again."),
    USABILITY: ("I'm happy to sort this out with you directly, and I'll pass on exactly where it got "
                "difficult so it's easier for the next person.",
                "I can take it from here and do it for you, and I'll make sure the team that looks after "
                "this hears what got in your way."),
    OTHER: ("I'd like to understand exactly what happened so I can put it right for you.",
            "I'm looking into this personally and will make sure it's put right."),
}

INVITE = ("If there's something else that would make this right for you, please tell me: I'd genuinely "
          "like to hear it.",
          "And if you have an idea of what would help most, I'm all ears.")

VERIFY = {
    WAIT_TIME: "If I stay your single point of contact and update you by the end of tomorrow, would that work for you?",
    BILLING: "If I correct your account and confirm it all in writing, will that put things right for you?",
    STAFF_ATTITUDE: "If I see this through myself and keep you posted at each step, would that help put things right?",
    PRODUCT_DEFECT: "If we fix or replace it and I check back with you once it's done, would that settle it for you?",
    DELIVERY: "If I rearrange this for a time that suits you and keep you updated until it arrives, would that work?",
    USABILITY: "If I finish this for you now and confirm once it's done, would that help?",
    OTHER: "If I look into it and come back to you with what we'll do, would that be a good next step?",
}

THANKS_REPLY = (
    "Thank you so much for taking the time to tell us. It genuinely made our day, and I'll make sure "
    "everyone involved hears it.",
    "Thank you for your kind words. I've passed them on to the team, and they really do mean a lot.",
)

_NUMBER = r"(?:\d+|a few|several|one|two|three|four|five|six|seven|eight|nine|ten|fifteen|twenty|thirty|forty|fifty)"
_DURATION = re.compile(rf"\b({_NUMBER}(?: working)? (?:minutes|hours|days|weeks|months))\b", re.I)


def _pick(options: tuple[str, ...], seed: int) -> str:
    return options[seed % len(options)]


def _seed(inp: DraftInput, variant: int) -> int:
    base = int(hashlib.sha256((inp.comment or "").encode()).hexdigest()[:8], 16)
    return base + variant


def offline_parts(inp: DraftInput, themes: list[str], sentiment: str, variant: int = 0) -> dict[str, str] | None:
    """The five RESOLVED parts from templates, or None for praise (a thank-you is written instead)."""
    if sentiment == "positive":
        return None
    seed = _seed(inp, variant)
    theme = next((t for t in themes if t in TOPIC), OTHER)
    detail = ""
    if theme == WAIT_TIME and inp.comment:
        m = _DURATION.search(inp.comment)
        if m:
            detail = m.group(1).lower()
    feeling = _pick(FEELING[theme], seed)
    feeling = feeling.replace("{detail}", f"{detail} " if detail else "").replace(
        "{detail_cap}", f"{detail[:1].upper()}{detail[1:]} " if detail else "That ")
    others = [t for t in themes if t in TOPIC and t not in (theme, OTHER)]
    topic = TOPIC[theme] + (f", and about {TOPIC[others[0]]}" if others else "")
    respond = _pick((f"Thank you for taking the time to tell us about {topic}. I'm looking after this for you "
                     "personally.",
                     f"Thank you for letting us know about {topic}. I've picked this up myself, so you won't be "
                     "passed around."), seed)
    return {"respond": respond, "empathize": f"{feeling} {_pick(APOLOGY, seed + 1)}",
            "solve": _pick(SOLVE[theme], seed), "invite": _pick(INVITE, seed + 1), "verify": VERIFY[theme]}


def offline_draft(inp: DraftInput, themes: list[str], sentiment: str, variant: int = 0) -> str:
    """The offline draft: RESOLVED from templates for a complaint, a warm thank-you for praise."""
    parts = offline_parts(inp, themes, sentiment, variant)
    if parts is not None:
        return assemble(parts, inp)
    name = first_name(inp.customer_name)
    owner = first_name(inp.owner_name)
    body = [f"Hi {name}," if name else "Hello,", _pick(THANKS_REPLY, _seed(inp, variant)),
            "If there's ever anything we could do even better, I'd love to hear it.",
            f"Best wishes,\n{owner}" if owner else "Best wishes,"]
    return "\n\n".join(body)
