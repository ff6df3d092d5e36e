"""Factories for the outer loop's tests: survey answers at chosen instants, improvements started and
moved through the real rules."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlmodel import Session

from bot.config import Workspace
from bot.improvement import notify
from bot.improvement import service as imps
from bot.intake.store import record_response
from bot.intake.surveys import build_response
from bot.people.roster import Actor, actor_for, member_by_slack
from storage.db import session_scope
from storage.models import Case

# Wednesday 2 December 2026, 10:00 in London (UTC in winter): the default huddle instant.
HUDDLE_AT = datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
_ids = itertools.count(1)

WAITING = "I waited on hold for an hour"
PARCEL = "the courier lost my parcel"


def answer(engine: Any, ws: Workspace, *, at: datetime, survey: str = "nps", score: int = 3,
           comment: str | None = WAITING, touchpoint: str | None = "phone", root_cause: str | None = None) -> int | None:
    """One survey answer stored as intake stores it; returns the case it opened (if any). A case's
    documented root cause is set as the Document step would have set it."""
    data: dict[str, Any] = {"source": "generic", "external_id": f"imp-{next(_ids)}", "survey": survey,
                            "score": score, "responded_at": at.isoformat()}
    if comment is not None:
        data["comment"] = comment
    if touchpoint is not None:
        data["touchpoint"] = touchpoint
    case_id = record_response(engine, ws, build_response(data, now=at), now=at).case_id
    if root_cause and case_id:
        with session_scope(engine) as s:
            case = s.get(Case, case_id)
            assert case is not None
            case.root_cause = root_cause
            s.add(case)
    return case_id


def answers(engine: Any, ws: Workspace, scores: list[int], *, start: datetime, every: timedelta = timedelta(hours=3),
            **kw: Any) -> None:
    for i, score in enumerate(scores):
        answer(engine, ws, at=start + i * every, score=score, **kw)


def actor(s: Session, slack_id: str) -> Actor:
    return actor_for(s, member_by_slack(s, slack_id))


def epoch(day: date, hour: int = 12) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc).timestamp())


def start_improvement(engine: Any, ws: Workspace, *, by: str = "U0ALICE", now: datetime, metric: str = "csat",
                      target: str = "80", target_date: date | None = None, touchpoint: str | None = "phone",
                      theme: str | None = None, owners: tuple[str, ...] = (), team: str = "support") -> int:
    with session_scope(engine) as s:
        people = [member_by_slack(s, o) for o in owners]
        ev = imps.start(s, ws, actor(s, by), team=team, title="Fewer callbacks missed", problem="Customers wait.",
                        owners_=people, metric=metric, target=target,
                        target_date=epoch(target_date or (now + 60 * DAY).date()), touchpoint=touchpoint,
                        theme=theme, now=now)
        notify.publish_started(s, ws, imps.get(s, ev.improvement_id), ev, now)  # as the form does
        return ev.improvement_id


def add_action(engine: Any, ws: Workspace, imp_id: int, *, by: str = "U0ALICE", owner: str = "U0ALICE",
               due: datetime, now: datetime, title: str = "Log every callback promise") -> int:
    with session_scope(engine) as s:
        ev = imps.add_action(s, ws, actor(s, by), imp_id, title=title, owner=member_by_slack(s, owner), due_at=due,
                             now=now)
        return int((ev.detail or {})["action"])


def move(engine: Any, ws: Workspace, imp_id: int, to: str, *, by: str = "U0ALICE", now: datetime,
         note: str | None = None) -> None:
    with session_scope(engine) as s:
        imps.move(s, ws, actor(s, by), imp_id, to, note=note, now=now)
