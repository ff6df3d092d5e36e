"""The `digest` due job: each team's digest once its instant has come, once per team and week (a job
claim plus a unique outbox key), caught up within MAX_LATE if a run was missed."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine, select
from sqlmodel import Session

from bot.cases.notify import channel_targets
from bot.config import Workspace
from bot.machinery.queueing import enqueue
from bot.machinery.schedule import claim, due_job
from storage.db import session_scope
from storage.models import JobClaim

log = logging.getLogger(__name__)
from bot.reporting.digest import compute_digest
from bot.reporting.messages import digest_message
from bot.reporting.weeks import due_digest, week_label

# --- queueing --------------------------------------------------------------------------------


def team_targets(ws: Workspace, team: str) -> list[tuple[str, str]]:
    # Only the team's own channels: `channel_targets` falls back to the default team for unknown keys.
    t = ws.team(team)
    return channel_targets(ws, team) if (t.slack_channel or t.teams_channel) else []


def claim_key(team: str, week: str) -> str:
    return f"digest:{team}:{week}"


def _already_claimed(engine: Engine, key: str) -> bool:
    with Session(engine) as s:
        return s.execute(select(JobClaim.id).where(JobClaim.key == key)).first() is not None


@due_job("digest")
def weekly_digests(engine: Engine, ws: Workspace, now: datetime) -> int:
    """Queue each team's digest once its instant has come (caught up within MAX_LATE); returns how many."""
    due = due_digest(ws, now)
    if due is None:
        return 0
    week = week_label(ws, due.week_start)
    queued = 0
    for t in ws.teams:
        try:
            targets = team_targets(ws, t.key)
            key = claim_key(t.key, week)
            if not targets or _already_claimed(engine, key):
                continue
            # Computed before the writing transaction, so no write lock is held while the chart is drawn.
            msg = digest_message(compute_digest(engine, ws, t.key, due.week_start, due.week_end))
            with session_scope(engine) as s:
                if not claim(s, key):
                    continue  # another run or replica got here first
                for platform, target in targets:
                    enqueue(s, key=f"{platform}:digest:{t.key}:{week}", platform=platform, action="post",
                            target=target, message=msg)
            queued += 1
        except Exception:  # one team's failure never stops the others; its claim was rolled back
            log.exception("digest for team %s failed", t.key)
    return queued
