"""The assistant's tables live in `storage/models.py` (migration 0005); re-exported here for bot.assist."""

from __future__ import annotations

from sqlalchemy import Engine

from storage.models import AssistResult, AssistUsage, ResponseTheme

TABLES = [AssistUsage.__table__, AssistResult.__table__, ResponseTheme.__table__]  # type: ignore[attr-defined]

__all__ = ["AssistResult", "AssistUsage", "ResponseTheme", "TABLES", "create_tables", "drop_tables"]


def create_tables(engine: Engine) -> None:
    """Nothing to do: the migrations create them."""


def drop_tables(engine: Engine) -> None:
    """Nothing to do: the migrations own them."""
