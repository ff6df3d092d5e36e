"""The due job that carries out erasure requests made in chat (bot/privacy/requests.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from bot.config import Workspace
from bot.machinery.schedule import due_job
from bot.privacy.requests import carry_out


@due_job("privacy_erasures")
def erasures(engine: Engine, ws: Workspace, now: datetime) -> int:
    return carry_out(engine, ws, now)
