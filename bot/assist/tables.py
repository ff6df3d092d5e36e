"""The assistant's tables: daily token usage, cached answers, and each response's themes.

These are the exact models proposed for `storage/models.py` (with the migration in the report).
Until they move there they live on a registry of their own, so `SQLModel.metadata`, the migrations
and the schema-drift check are untouched; `create_tables` makes them where a test needs them.
After the move this module becomes `from storage.models import AssistResult, AssistUsage, ResponseTheme`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, Column, Engine, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from storage.models import SurveyResponse
from storage.types import UTCDateTime, utcnow

_registry = registry()
# A copy of the referenced table, so foreign keys resolve; it is never created from here.
SurveyResponse.__table__.to_metadata(_registry.metadata)  # type: ignore[attr-defined]


class _AssistTable(SQLModel, registry=_registry):
    pass


class AssistUsage(_AssistTable, table=True):
    """Tokens the assistant used on a day (UTC), so the daily budget holds across restarts and replicas."""

    __tablename__ = "assist_usage"

    day: date = Field(primary_key=True)
    tokens: int = Field(default=0, sa_type=BigInteger, nullable=False)
    requests: int = Field(default=0, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class AssistResult(_AssistTable, table=True):
    """A model's validated answer, so the same question (same input, model and prompt) is paid for once."""

    __tablename__ = "assist_result"
    __table_args__ = (UniqueConstraint("subject", "kind", "model", "prompt_version", name="uq_assist_result"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    subject: str = Field(max_length=200, description="response:42, case:7, digest:support:2026-11-16")
    kind: str = Field(max_length=16, description="classify, draft, summary, names")
    model: str = Field(max_length=100)
    prompt_version: str = Field(max_length=16)
    input_hash: str = Field(max_length=64, description="sha256 of what was sent; a changed input is a miss")
    payload: Any = Field(sa_column=Column(JSON, nullable=False))
    tokens: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ResponseTheme(_AssistTable, table=True):
    """One of a response's themes, with the response's sentiment and which method found them."""

    __tablename__ = "response_theme"
    __table_args__ = (UniqueConstraint("response_id", "theme", name="uq_response_theme"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    response_id: int = Field(foreign_key="survey_response.id", index=True)
    theme: str = Field(max_length=48, index=True)
    rank: int = Field(default=0, description="0 = the main theme")
    sentiment: str = Field(max_length=8)
    method: str = Field(max_length=8, description="openai or offline")
    model: Optional[str] = Field(default=None, max_length=100)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


TABLES = [AssistUsage.__table__, AssistResult.__table__, ResponseTheme.__table__]  # type: ignore[attr-defined]


def create_tables(engine: Engine) -> None:
    """Create the assistant's tables if missing (tests; production uses the migration)."""
    _registry.metadata.create_all(engine, tables=TABLES, checkfirst=True)


def drop_tables(engine: Engine) -> None:
    """Drop them again (tests on a shared PostgreSQL database)."""
    _registry.metadata.drop_all(engine, tables=TABLES, checkfirst=True)
