"""Due work, for `cxloop run-due` and the in-process scheduler."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from bot.config import Settings, Workspace
from bot.outbox import Deliverer
from handlers.platforms import delivery_ports
from storage.types import utcnow


async def run_due(engine: Engine, ws: Workspace, settings: Settings, *, at: datetime | None = None) -> dict[str, Any]:
    """Do everything due at `at` once, then deliver what that queued. Safe to repeat."""
    at = at or utcnow()
    summary: dict[str, Any] = {"at": at.isoformat()}
    ports = delivery_ports(settings)
    if ports:
        summary["delivered"] = await Deliverer(engine, ports).drain(now=max(at, utcnow()))
    else:
        summary["delivered"] = 0
        summary["note"] = "no chat platform configured; messages stay queued in the outbox"
    return summary
