"""Which answers become follow-ups, the follow-up's steps and its SLA: the rules, from the workspace YAML."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.cases.sla import add_business_time
from bot.config import FollowUpRule, Workspace
from bot.intake.cutoffs import SATISFIED_MIN
from bot.intake.surveys import NpsCategory, SCORE_RANGE, SurveyKind, is_positive, nps_category

DEFAULT_WITHIN = timedelta(days=3)
# On unless the YAML says otherwise: NPS passives and promoters. CSAT and CES are opt-in.
DEFAULT_ON = {SurveyKind.NPS: True, SurveyKind.CSAT: False, SurveyKind.CES: False}


class Category(str, enum.Enum):
    PASSIVE = "passive"
    PROMOTER = "promoter"

    @property
    def label(self) -> str:
        return "Passive" if self is Category.PASSIVE else "Promoter"


class Step(str, enum.Enum):
    THANK = "thank"
    ASK = "ask"
    RECORD = "record"

    @property
    def number(self) -> int:
        return STEPS.index(self) + 1

    @property
    def title(self) -> str:
        return {"thank": "Thank them", "ask": "Ask", "record": "Record what they said"}[self.value]


STEPS: list[Step] = list(Step)


class Status(str, enum.Enum):
    OPEN = "open"                # listed, nobody has taken it
    IN_PROGRESS = "in_progress"  # taken
    DONE = "done"                # all three steps ticked

    @property
    def label(self) -> str:
        return {"open": "Waiting for someone", "in_progress": "In progress", "done": "Done"}[self.value]


def category_of(kind: SurveyKind, score: int) -> Category | None:
    """Promoters are the answers the codebase calls praise (NPS 9-10, CSAT 5, CES 4-5); passives are
    NPS 7-8 and the satisfied CSAT answers short of the top (4): "what would make it a 5?". Anything
    else (detractors, CSAT and CES 1-3) is never a follow-up. Cut-offs: bot/intake/cutoffs.py."""
    if is_positive(kind, score):
        return Category.PROMOTER
    if kind is SurveyKind.NPS and nps_category(score) is NpsCategory.PASSIVE:
        return Category.PASSIVE
    if kind is SurveyKind.CSAT and SATISFIED_MIN <= score < SCORE_RANGE[kind][1]:
        return Category.PASSIVE
    return None


@dataclass(frozen=True)
class Rule:
    """The follow-up settings that apply to one team and survey kind."""

    passives: bool
    promoters: bool
    within: timedelta
    review_url: str | None

    def wants(self, category: Category) -> bool:
        return self.promoters if category is Category.PROMOTER else self.passives


def _pick(*values: object, default: object) -> object:
    return next((v for v in values if v is not None), default)


def rule_for(ws: Workspace, team: str, kind: SurveyKind) -> Rule:
    """The team's `follow_up.<kind>` over the workspace's, over the defaults, field by field."""
    try:
        own = ws.team(team).follow_up
    except KeyError:
        own = None
    layers: list[FollowUpRule] = [getattr(own, kind.value)] if own is not None else []
    layers.append(getattr(ws.follow_up, kind.value))
    on = DEFAULT_ON[kind]
    return Rule(passives=bool(_pick(*(r.passives for r in layers), default=on)),
                promoters=bool(_pick(*(r.promoters for r in layers), default=on)),
                within=_pick(*(r.within for r in layers), default=DEFAULT_WITHIN),  # type: ignore[arg-type]
                review_url=_pick(*(r.review_url for r in layers), default=None))  # type: ignore[arg-type]


def due_at(ws: Workspace, team: str, rule: Rule, created: datetime) -> datetime:
    """When a follow-up is due: `within` of wall-clock time, or of working time when the team's SLA
    counts business hours, as its cases' due times do."""
    try:
        sla = ws.sla_for(team)
    except KeyError:
        sla = ws.sla
    if sla.business_hours:
        return add_business_time(created, rule.within, ws.zone, ws.business_hours)
    return created + rule.within


def ask_text(kind: SurveyKind, category: Category, review_url: str | None) -> str:
    """What to ask the customer at the Ask step."""
    if category is Category.PASSIVE:
        return f"What would make it a {SCORE_RANGE[kind][1]}?"
    if review_url:
        return "Would you share that in a review, or tell a friend about us?"
    return "Would you tell a friend or a colleague about us? (No review link is set up for this team.)"
