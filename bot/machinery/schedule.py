"""Due work: each job asks the database what is due at an instant and queues it, once.

Jobs never keep state in memory. What has been done is recorded in the database in the same
transaction as the messages it queues (a nudge row, a job claim, an outbox key), under a unique
key, so a re-run, a missed run catching up or a second replica never does anything twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.config import Workspace
from storage.models import JobClaim

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DueJob:
    name: str
    run: Callable[[Engine, Workspace, datetime], int]


JOBS: list[DueJob] = []


def due_job(name: str):  # type: ignore[no-untyped-def]
    """Register a job; only annotates, nothing runs at import."""
    def wrap(fn: Callable[[Engine, Workspace, datetime], int]) -> Callable[[Engine, Workspace, datetime], int]:
        JOBS.append(DueJob(name, fn))
        return fn
    return wrap


def claim(session: Session, key: str) -> bool:
    """Record that `key`'s work is being done; False if it already was (by anyone)."""
    if session.exec(select(JobClaim.id).where(JobClaim.key == key)).first() is not None:
        return False
    try:
        with session.begin_nested():
            session.add(JobClaim(key=key))
    except IntegrityError:
        return False
    return True


def run_due_jobs(engine: Engine, ws: Workspace, now: datetime) -> dict[str, int | str]:
    """Run every registered job for `now`; one failing job never stops the others."""
    from bot import wiring

    wiring.load()
    out: dict[str, int | str] = {}
    for job in JOBS:
        try:
            out[job.name] = job.run(engine, ws, now)
        except Exception as exc:
            log.exception("due job %s failed", job.name)
            out[job.name] = f"failed: {exc!r}"[:300]
    return out
