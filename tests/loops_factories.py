"""Factories for closing the loop with every customer: answers, worked cases, follow-ups."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count
from typing import Any

from sqlmodel import Session, select

from bot.cases import service as cases
from bot.cases.resolved import ResolvedStep
from bot.config import Workspace, load_workspace, parse_workspace
from bot.intake.store import record_response
from bot.intake.surveys import build_response
from bot.people.roster import actor_for, member_by_slack
from storage.db import session_scope
from storage.models import FollowUp

_ids = count(1)


def answer(engine, ws: Workspace, *, score: int, survey: str = "nps", at: datetime, customer_id: str | None = None,
           email: str | None = None, name: str | None = "Dana Reyes", comment: str | None = None,
           touchpoint: str = "phone", ext: str | None = None, stored: datetime | None = None):
    """Store one survey answer as the generic webhook would (at `stored`, default when it was given);
    returns the IntakeResult."""
    data: dict[str, Any] = {"source": "generic", "external_id": ext or f"r-{next(_ids)}", "survey": survey,
                            "score": score, "comment": comment, "customer_id": customer_id, "customer_name": name,
                            "customer_email": email, "touchpoint": touchpoint, "responded_at": at.isoformat()}
    return record_response(engine, ws, build_response(data), now=stored or at)


def close_loop(engine, ws: Workspace, case_id: int, *, owner: str, at: datetime, closed: datetime) -> None:
    """Take a case as `owner`, tick its eight steps at `at`, close its loop at `closed`."""
    with session_scope(engine) as s:
        actor = actor_for(s, member_by_slack(s, owner))
        cases.take(s, actor, case_id, now=at)
        for step in ResolvedStep:
            cases.tick_step(s, actor, case_id, step, now=at, note="done",
                            customer_agreed=True if step is ResolvedStep.VERIFY else None,
                            root_cause="processes" if step is ResolvedStep.DOCUMENT else None)
        cases.close_loop(s, actor, case_id, how="phone", when=closed, now=closed)


def workspace(**changes: Any) -> Workspace:
    """The sample workspace with top-level keys replaced (and `team_<key>` merged into that team)."""
    data = load_workspace().model_dump(mode="json", exclude_none=True)
    for k, v in changes.items():
        if k.startswith("team_"):
            next(t for t in data["teams"] if t["key"] == k[5:]).update(v)
        else:
            data[k] = v
    return parse_workspace(data)


def follow_ups(engine) -> list[FollowUp]:
    with Session(engine) as s:
        return list(s.exec(select(FollowUp).order_by(FollowUp.id)))


def later(at: datetime, **kw: float) -> datetime:
    return at + timedelta(**kw)
