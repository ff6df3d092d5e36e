"""The assistant's results in the database: each response's themes, theme scores, the week's summary.

Writes are short and never wait on a model: the caller gets a result first (outside any transaction)
and stores it here afterwards.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, delete, func, select
from sqlmodel import Session

from bot.assist.results import Classification, DigestSummary
from bot.assist.service import Assistant
from bot.assist.summary import CommentIn, offline_summary
from storage.models import ResponseTheme
from bot.assist.themes import SENTIMENTS
from bot.reporting.scores import ScoreGroup, count_columns, score_groups
from storage.models import SurveyResponse
from storage.types import utcnow


def save_classification(session: Session, response_id: int, c: Classification, *,
                        now: datetime | None = None) -> None:
    """Replace the response's stored themes with `c`'s (nothing is stored for a response with no comment)."""
    t = ResponseTheme.__table__  # type: ignore[attr-defined]
    session.execute(delete(t).where(t.c.response_id == response_id))
    at = now or utcnow()
    for rank, theme in enumerate(c.themes):
        session.add(ResponseTheme(response_id=response_id, theme=theme, rank=rank, sentiment=c.sentiment,
                                  method=c.method, model=c.model, at=at))
    session.flush()


def stored_classifications(session: Session, response_ids: Iterable[int]) -> dict[int, Classification]:
    """The stored themes of several responses, as Classifications (responses never classified are absent)."""
    ids = list(response_ids)
    if not ids:
        return {}
    t = ResponseTheme.__table__  # type: ignore[attr-defined]
    rows = session.execute(select(t.c.response_id, t.c.theme, t.c.sentiment, t.c.method, t.c.model)
                           .where(t.c.response_id.in_(ids)).order_by(t.c.response_id, t.c.rank)).all()
    grouped: dict[int, list[Any]] = {}
    for r in rows:
        grouped.setdefault(r.response_id, []).append(r)
    return {rid: Classification(themes=[r.theme for r in rs], sentiment=rs[0].sentiment, method=rs[0].method,
                                model=rs[0].model)
            for rid, rs in grouped.items()}


def stored_classification(session: Session, response_id: int) -> Classification | None:
    return stored_classifications(session, [response_id]).get(response_id)


def classify_response(session: Session, response: SurveyResponse, *, assistant: Assistant) -> Classification:
    """The response's stored themes, else the offline ones (computed, not stored): fast, never a model call."""
    stored = stored_classification(session, response.id) if response.id is not None else None
    if stored is not None:
        return stored
    offline = Assistant.offline(assistant.off_reason or "not classified yet", themes=assistant.themes)
    return offline.classify(response.comment, survey=response.survey, score=response.score)


def theme_scores(engine: Engine, *, since: datetime | None = None, until: datetime | None = None,
                 team: str | None = None, sentiment: str | None = None,
                 teams: Collection[str] | None = None) -> list[ScoreGroup]:
    """NPS, CSAT and CES per theme (a response counts under each of its themes), as `bot.reporting.scores` scores them.

    `teams`: only the answers of these teams (a viewer's own); None is every answer.
    """
    r = SurveyResponse.__table__.c  # type: ignore[attr-defined]
    t = ResponseTheme.__table__.c  # type: ignore[attr-defined]
    conds = []
    if since is not None:
        conds.append(r.responded_at >= since)
    if until is not None:
        conds.append(r.responded_at < until)
    if team is not None:
        conds.append(r.team == team)
    if teams is not None:
        conds.append(r.team.in_(list(teams)))
    if sentiment is not None:
        if sentiment not in SENTIMENTS:
            raise ValueError(f"unknown sentiment {sentiment!r}")
        conds.append(t.sentiment == sentiment)
    stmt = (select(t.theme, r.survey, func.count().label("n"), *count_columns(r.score))
            .select_from(ResponseTheme.__table__.join(SurveyResponse.__table__,  # type: ignore[attr-defined]
                                                      r.id == t.response_id))
            .where(and_(True, *conds)).group_by(t.theme, r.survey))
    with engine.execution_options(cx_write=False).connect() as conn:
        groups = score_groups(conn.execute(stmt), by="theme")
    return sorted(groups, key=lambda g: (-g.responses, g.key))


# ---- the week's summary ---------------------------------------------------------------------------


def summary_subject(team: str, week_start: datetime, zone: Any) -> str:
    return f"digest:{team}:{week_start.astimezone(zone).date().isoformat()}"


def week_comments(session: Session, team: str, start: datetime, end: datetime) -> list[CommentIn]:
    """The team's comments in [start, end), oldest first."""
    r = SurveyResponse.__table__.c  # type: ignore[attr-defined]
    rows = session.execute(select(r.id, r.comment, r.survey, r.score).where(
        r.team == team, r.responded_at >= start, r.responded_at < end, r.comment.is_not(None),
        func.length(func.trim(r.comment)) > 0).order_by(r.responded_at, r.id)).all()
    return [CommentIn(id=str(x.id), text=x.comment, survey=x.survey, score=x.score) for x in rows]


def week_summary(session: Session, team: str, start: datetime, end: datetime, *, zone: Any,
                 assistant: Assistant) -> DigestSummary:
    """For the digest builder: the model's summary if it was made ahead (cached), else the offline one.

    Never calls a model: the digest is built inside a transaction. The `assist` due job asks the model
    once the week is over (`bot.assist.jobs.summarize_weeks`), so the cached answer is usually there
    by digest time.
    """
    comments = week_comments(session, team, start, end)
    if not comments:
        return DigestSummary(bullets=[], method="offline", reason="no comments")
    cached = assistant.cached_summary(comments, subject=summary_subject(team, start, zone))
    if cached is not None:
        return cached
    reason = assistant.off_reason or "the model's summary was not ready"
    return DigestSummary(bullets=offline_summary(comments, assistant.themes), method="offline", reason=reason)
