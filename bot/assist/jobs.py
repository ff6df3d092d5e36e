"""The assistant's due work: classify new comments, summarise the finished week, check names in praise.

Each step asks the model outside any transaction and stores the result in a short one, so intake and
chat never wait on a model. Each is bounded per run (a number of calls and a time box) and keyed in
the database, so a re-run, a second replica or a model that keeps failing never repeats paid work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time as Clock, timedelta, timezone

from sqlalchemy import Engine, exists, func, select
from sqlmodel import Session

from bot.assist.names import offline_names
from bot.assist.results import Classification
from bot.assist.service import Assistant
from bot.assist.store import save_classification, summary_subject, week_comments
from storage.models import ResponseTheme
from bot.machinery.schedule import claim
from bot.intake.surveys import SurveyKind, is_positive
from storage.db import session_scope
from storage.models import SurveyResponse

log = logging.getLogger(__name__)

MODEL_WINDOW = timedelta(days=3)   # older comments (an imported history) are classified offline
MODEL_CALLS_PER_RUN = 20
OFFLINE_PER_RUN = 500
TIME_BOX = 30.0                    # seconds of model calls per run, so other due work is not held up
PRAISE_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class Classified:
    response_id: int
    result: Classification


def classify_pending(engine: Engine, now: datetime, *, assistant: Assistant,
                     on_classified: Callable[[Session, Classified], None] | None = None,
                     model_calls: int = MODEL_CALLS_PER_RUN, time_box: float = TIME_BOX) -> int:
    """Classify responses with a comment and no stored themes yet; returns how many were stored.

    Recent ones go to the model (when there is one), oldest first, up to `model_calls` a run; older
    ones are classified offline. A response is classified once: if the model is unavailable at that
    moment, the offline themes stand (and say so).
    """
    r = SurveyResponse.__table__.c  # type: ignore[attr-defined]
    t = ResponseTheme.__table__.c  # type: ignore[attr-defined]
    pending = (select(r.id, r.comment, r.survey, r.score, r.responded_at)
               .where(r.comment.is_not(None), func.length(func.trim(r.comment)) > 0,
                      ~exists().where(t.response_id == r.id)))
    with Session(engine.execution_options(cx_write=False)) as s:
        recent = s.execute(pending.where(r.responded_at >= now - MODEL_WINDOW).order_by(r.responded_at, r.id)
                           .limit(model_calls if assistant.online else OFFLINE_PER_RUN)).all()
        older = s.execute(pending.where(r.responded_at < now - MODEL_WINDOW).order_by(r.id)
                          .limit(OFFLINE_PER_RUN)).all()
    offline = Assistant.offline("older than the model window", themes=assistant.themes)
    done = 0
    started = time.monotonic()
    for rows, who in ((recent, assistant), (older, offline)):
        for row in rows:
            if who is assistant and assistant.online and time.monotonic() - started > time_box:
                break
            result = who.classify(row.comment, survey=row.survey, score=row.score, response_id=row.id)
            with session_scope(engine) as s:
                if s.execute(select(t.id).where(t.response_id == row.id)).first() is not None:
                    continue  # another replica got there first
                save_classification(s, row.id, result, now=now)
                if on_classified is not None:
                    on_classified(s, Classified(row.id, result))
            done += 1
    return done


def last_week(zone: object, now: datetime) -> tuple[datetime, datetime]:
    """The Monday-to-Sunday week before the one `now` falls in, in `zone`, as UTC instants."""
    local = now.astimezone(zone)  # type: ignore[arg-type]
    monday = local.date() - timedelta(days=local.weekday() + 7)

    def midnight(d: date) -> datetime:
        return datetime.combine(d, Clock(0), tzinfo=zone).astimezone(timezone.utc)  # type: ignore[arg-type]

    return midnight(monday), midnight(monday + timedelta(days=7))


def summarize_weeks(engine: Engine, teams: list[str], zone: object, now: datetime, *, assistant: Assistant,
                    digest_at: datetime | None = None) -> int:
    """Ask the model for each team's summary of last week, ahead of the digest; returns how many were made.

    At most one attempt per team and hour (keyed in job_claim), and none after the digest went out.
    """
    if not assistant.online or assistant.cache is None:
        return 0
    if digest_at is not None and now >= digest_at + timedelta(hours=1):
        return 0
    start, end = last_week(zone, now)
    made = 0
    for team in teams:
        subject = summary_subject(team, start, zone)
        with Session(engine.execution_options(cx_write=False)) as s:
            comments = week_comments(s, team, start, end)
        if not comments or assistant.cached_summary(comments, subject=subject) is not None:
            continue
        with session_scope(engine) as s:
            if not claim(s, f"assist:{subject}:{now.astimezone(timezone.utc):%Y%m%dT%H}"):
                continue
        result = assistant.summarize_week(comments, subject=subject)
        made += result.method == "openai"
    return made


def roster_of(people: dict[str, object]) -> tuple[list[str], dict[str, str]]:
    """Roster names (names and aliases) and, for each, the person's id."""
    names: list[str] = []
    ids: dict[str, str] = {}
    for uid, person in sorted(people.items()):
        for n in (getattr(person, "name", None), *getattr(person, "aliases", ())):
            if n and n not in ids:
                names.append(n)
                ids[n] = uid
    return names, ids


def credit_praise(engine: Engine, people: dict[str, object], now: datetime, *, assistant: Assistant,
                  credit: Callable[[Session, SurveyResponse, list[str], datetime], None],
                  model_calls: int = MODEL_CALLS_PER_RUN) -> int:
    """Recent praise that names roster people: the model confirms the names, `credit` gets their ids.

    Each response is checked once (a job claim). Without a model the offline match stands.
    """
    roster, ids = roster_of(people)
    if not roster:
        return 0
    r = SurveyResponse.__table__.c  # type: ignore[attr-defined]
    with Session(engine.execution_options(cx_write=False)) as s:
        rows = s.execute(select(r.id, r.comment, r.survey, r.score).where(
            r.comment.is_not(None), r.responded_at >= now - PRAISE_WINDOW, r.responded_at <= now)
            .order_by(r.responded_at, r.id)).all()
    credited = calls = 0
    for row in rows:
        if not is_positive(SurveyKind(row.survey), row.score) or not offline_names(row.comment, roster):
            continue
        if calls >= model_calls:
            break
        with Session(engine.execution_options(cx_write=False)) as s:
            if _claimed(s, f"assist:names:{row.id}"):
                continue
        calls += 1
        found = assistant.staff_named(row.comment, roster, response_id=row.id)
        uids = list(dict.fromkeys(ids[n] for n in found.names))
        with session_scope(engine) as s:
            if not claim(s, f"assist:names:{row.id}"):
                continue
            response = s.get(SurveyResponse, row.id)
            if response is not None and uids:
                credit(s, response, uids, now)
                credited += len(uids)
    return credited


def _claimed(session: Session, key: str) -> bool:
    from storage.models import JobClaim

    return session.execute(select(JobClaim.id).where(JobClaim.key == key)).first() is not None
