"""Due work, for `cxloop run-due` and the in-process scheduler."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from bot.config import Settings, Workspace
from bot.machinery.housekeeping import expire, prune
from bot.machinery.outbox import Deliverer
from bot.machinery.schedule import run_due_jobs
from storage.types import utcnow

log = logging.getLogger(__name__)

TZ_REFRESH = timedelta(days=7)


async def refresh_time_zones(engine: Engine, settings: Settings, now: datetime) -> int:
    """Fill in time zones (for quiet hours) and names (for praise) from Slack profiles, each weekly."""
    if not settings.slack_bot_token:
        return 0
    from handlers.slack.profiles import refresh_time_zones as slack_refresh

    return await slack_refresh(engine, settings, now, stale_after=TZ_REFRESH)


async def run_due(engine: Engine, ws: Workspace, settings: Settings, *, at: datetime | None = None,
                  deliverer: Deliverer | None = None) -> dict[str, Any]:
    """Do everything due at `at` once, then deliver what that queued. Safe to repeat."""
    at = at or utcnow()
    summary: dict[str, Any] = {"at": at.isoformat()}
    try:
        summary["time_zones_refreshed"] = await refresh_time_zones(engine, settings, at)
    except Exception as exc:  # profiles are a nicety: nudges go out in the workspace zone without them
        log.warning("could not refresh time zones: %r", exc)
    import asyncio

    from bot.people.teams import effective_workspace

    with Session(engine) as s:
        ws = effective_workspace(s, ws)
    summary["queued"] = await asyncio.to_thread(run_due_jobs, engine, ws, at)
    try:
        # Age is measured against the process clock, never a later `--at`: rehearsing a future day
        # must not delete what is recent today.
        summary["pruned"] = await asyncio.to_thread(prune, engine, keep=ws.retention.delivery, now=min(at, utcnow()))
    except Exception as exc:  # housekeeping never stops delivery; the next run tries again
        log.exception("pruning finished work records failed")
        summary["pruned"] = f"failed: {exc!r}"[:300]
    try:
        expired = await asyncio.to_thread(expire, engine, ws, now=min(at, utcnow()))
        if expired:
            summary["expired"] = expired
    except Exception as exc:  # the next run tries again; delivery goes on
        log.exception("removing customers' data past its retention window failed")
        summary["expired"] = f"failed: {exc!r}"[:300]
    if deliverer is None:
        from bot.machinery.runtime import Runtime
        from handlers.platforms import make_deliverer

        deliverer = make_deliverer(Runtime(engine=engine, workspace=ws, settings=settings))
    if deliverer is not None:
        # Deliver what is due by the later of `at` and now (the process clock, storage/clock.py): a
        # message held for someone's working hours stays queued until then.
        summary["delivered"] = await deliverer.drain(now=max(at, utcnow()))
    else:
        summary["delivered"] = 0
        summary["note"] = "no chat platform configured; messages stay queued in the outbox"
    return summary
