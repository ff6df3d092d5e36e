"""The outer loop's due work: each team's weekly huddle, and the improvements' measurements and nudges."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.config import Workspace
from bot.improvement.checkins import measurements
from bot.improvement.huddle import compute_huddle, due_huddle, week_key
from bot.improvement.huddle_messages import huddle_message
from bot.improvement.notify import team_channels
from bot.improvement.nudges import action_nudges
from bot.machinery.queueing import enqueue
from bot.machinery.schedule import claim, due_job
from storage.db import session_scope
from storage.models import JobClaim

log = logging.getLogger(__name__)


def huddle_key(team: str, week: str) -> str:
    return f"huddle:{team}:{week}"


@due_job("huddles")
def weekly_huddles(engine: Engine, ws: Workspace, now: datetime) -> int:
    """Each team's huddle once its instant has come (caught up the same day), once per team and week."""
    if due_huddle(ws, now) is None:
        return 0
    week = week_key(ws, now)
    posted = 0
    for t in ws.teams:
        try:
            targets = team_channels(ws, t.key) if (t.slack_channel or t.teams_channel) else []
            key = huddle_key(t.key, week)
            if not targets:
                continue
            with Session(engine.execution_options(cx_write=False)) as s:
                if s.exec(select(JobClaim.id).where(JobClaim.key == key)).first() is not None:
                    continue
                # Computed before the writing transaction: no write lock is held while answers are read.
                msg = huddle_message(compute_huddle(s, ws, t.key, now), post=key)
            with session_scope(engine) as s:
                if not claim(s, key):
                    continue  # another run or replica got here first
                for platform, target in targets:
                    enqueue(s, key=f"{platform}:{key}", platform=platform, action="post", target=target, message=msg)
            posted += 1
        except Exception:  # one team's failure never stops the others; its claim was rolled back
            log.exception("huddle for team %s failed", t.key)
    return posted


@due_job("improvements")
def improvement_work(engine: Engine, ws: Workspace, now: datetime) -> int:
    """Check-ins, target verdicts, Control revisits and plan-action nudges due at `now`."""
    return measurements(engine, ws, now) + action_nudges(engine, ws, now)
