"""Retention windows for customers' data (YAML `retention:`), applied by housekeeping on every `run-due`.

- `customer_details`: the name, email and customer id of responses older than the window (measured
  from when the customer answered), with the raw body that holds them, removed everywhere they went,
  chat messages included (bot/privacy/erase.py);
- `comments`: their comments and the notes on their cases, with every copy and quote of them;
- `raw_bodies`: the survey tools' raw bodies (webhook payloads, CSV extra columns) only.

The survey, score, times, touchpoint and team stay, so scores are unchanged. Work is done a batch of
responses at a time, each in its own transactions, and a backlog is worked off over several runs.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, exists, or_, select, update
from sqlmodel import Session

from bot.config import Workspace
from bot.privacy.erase import Parts, erase_responses
from bot.privacy.text import EXPIRED
from storage.db import session_scope
from storage.models import SurveyResponse
from storage.models_privacy import ResponseRedaction

BATCH = 200
MAX_BATCHES = 25

DETAILS = Parts(details=True, comment=False, raw=True)
COMMENTS = Parts(details=False, comment=True, raw=True)


def _due(engine: Engine, cutoff: datetime, which: str, limit: int) -> list[int]:
    """Responses older than `cutoff` that still hold what the window `which` removes."""
    r, red = SurveyResponse, ResponseRedaction
    q = select(r.id).where(r.responded_at < cutoff)
    if which == "details":
        q = q.where(or_(r.customer_name.is_not(None), r.customer_email.is_not(None),  # type: ignore[union-attr]
                        r.customer_id.is_not(None)))  # type: ignore[union-attr]
    elif which == "comments":
        q = q.where(r.comment.is_not(None))  # type: ignore[union-attr]
    else:
        # `raw` may hold a JSON null rather than SQL NULL: what was removed is known from the redaction.
        q = q.where(~exists().where(red.response_id == r.id, red.raw_at.is_not(None)))  # type: ignore[union-attr]
    with Session(engine) as s:
        return list(s.scalars(q.order_by(r.id).limit(limit)))


def _drop_raw(engine: Engine, ids: list[int], now: datetime) -> int:
    with session_scope(engine) as s:
        s.execute(update(SurveyResponse).where(SurveyResponse.id.in_(ids)).values(raw=None))  # type: ignore[attr-defined]
        for rid in ids:
            red = s.get(ResponseRedaction, rid) or ResponseRedaction(response_id=rid, reason="retention")
            red.raw_at = red.raw_at or now
            s.add(red)
    return len(ids)


def expire(engine: Engine, ws: Workspace, now: datetime, *, batch: int = BATCH,
           max_batches: int = MAX_BATCHES) -> dict[str, int]:
    """Remove what is older than its window at `now`; returns how many responses, per window."""
    retention = ws.retention
    out: dict[str, int] = {}
    plan = (("customer_details", "details", retention.customer_details),
            ("comments", "comments", retention.comments),
            ("raw_bodies", "raw", retention.raw_bodies))
    for name, which, window in plan:
        if window is None:
            continue
        cutoff = now - window
        done = 0
        for _ in range(max_batches):
            ids = _due(engine, cutoff, which, batch)
            if not ids:
                break
            if which == "raw":
                done += _drop_raw(engine, ids, now)
            else:
                erase_responses(engine, ws, ids, parts=DETAILS if which == "details" else COMMENTS, marker=EXPIRED,
                                reason="retention", now=now)
                done += len(ids)
        if done:
            out[name] = done
    return out
