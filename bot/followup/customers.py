"""Who is the same customer: the same customer id, else the same email (in any case), unless ambiguous.

Two answers are one customer's when both carry a customer id and the ids are equal; when either has
no id, when both carry the same email, and that email identifies one customer: an email that has
come with two different customer ids (a shared mailbox, a reused address) identifies no one, so it
links nothing. Used for recovery (bot/followup/recovery.py) and its figures (bot/followup/report.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from bot.config import Workspace
from bot.intake.surveys import NpsCategory, SurveyKind, nps_category
from storage.models import SurveyResponse

CHUNK = 500  # values per IN list


@dataclass(frozen=True)
class Answer:
    """A survey answer, as far as who gave it and what it was."""

    id: int
    survey: str
    score: int
    responded_at: datetime
    customer_id: str | None
    email: str | None  # lower-cased
    team: str | None = None

    @classmethod
    def of(cls, r: SurveyResponse) -> "Answer":
        return cls(id=r.id, survey=r.survey, score=r.score, responded_at=r.responded_at,  # type: ignore[arg-type]
                   customer_id=r.customer_id or None, email=email_key(r.customer_email), team=r.team)


def email_key(email: str | None) -> str | None:
    """How emails are compared: trimmed and lower-cased (as SQL's lower() does, so an index serves it)."""
    return email.strip().lower() or None if email else None


class Customers:
    """Every stored answer of some customers (by their ids and emails), loaded in a few queries."""

    def __init__(self, session: Session, seeds: Iterable[Answer], *, before: datetime | None = None):
        seeds = list(seeds)
        ids = sorted({s.customer_id for s in seeds if s.customer_id})
        emails = sorted({s.email for s in seeds if s.email})
        r = SurveyResponse.__table__.c  # type: ignore[attr-defined]
        found: dict[int, Answer] = {}
        for values, col in ((ids, r.customer_id), (emails, func.lower(r.customer_email))):
            for i in range(0, len(values), CHUNK):
                q = select(r.id, r.survey, r.score, r.responded_at, r.customer_id, r.customer_email, r.team).where(
                    col.in_(values[i:i + CHUNK]))
                if before is not None:
                    q = q.where(r.responded_at < before)
                for row in session.execute(q):
                    found[row.id] = Answer(id=row.id, survey=row.survey, score=row.score,
                                           responded_at=row.responded_at, customer_id=row.customer_id or None,
                                           email=email_key(row.customer_email), team=row.team)
        for s in seeds:
            found.setdefault(s.id, s)
        self.answers = sorted(found.values(), key=lambda a: (a.responded_at, a.id))
        ids_by_email: dict[str, set[str]] = {}
        for a in self.answers:
            if a.email and a.customer_id:
                ids_by_email.setdefault(a.email, set()).add(a.customer_id)
        self.ambiguous = {e for e, cids in ids_by_email.items() if len(cids) > 1}

    def same(self, a: Answer, b: Answer) -> str | None:
        """How `a` and `b` are one customer's ("customer_id" or "email"), or None."""
        if a.customer_id and b.customer_id:
            return "customer_id" if a.customer_id == b.customer_id else None
        if a.email and a.email == b.email and a.email not in self.ambiguous:
            return "email"
        return None

    def later(self, seed: Answer, *, after: datetime) -> list[tuple[Answer, str]]:
        """The customer's other answers given at or after `after`, oldest first, with how each matched."""
        out = []
        for a in self.answers:
            if a.id == seed.id or a.responded_at < after:
                continue
            how = self.same(seed, a)
            if how:
                out.append((a, how))
        return out


def is_recovery(ws: Workspace, before: Answer | SurveyResponse, after: Answer | SurveyResponse) -> bool:
    """Whether a later answer shows the customer won back: an NPS detractor now a passive or promoter;
    a higher CSAT or CES; across survey kinds, an answer that would open no case."""
    kb, ka = SurveyKind(before.survey), SurveyKind(after.survey)
    if kb is ka is SurveyKind.NPS:
        return nps_category(after.score) is not NpsCategory.DETRACTOR
    if kb is ka:
        return after.score > before.score
    return after.score > ws.thresholds.for_kind(ka)
