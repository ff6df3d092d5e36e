"""Tables for closing the loop with every customer: follow-ups with passives and promoters, recovery
links (a customer answering again after their loop was closed), and names learned from chat profiles.

Imported at the end of storage/models.py, so Alembic and the suite see them (and so this module
never imports storage.models: the tables it refers to are already in the shared metadata).
"""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import Index, Text, UniqueConstraint, func
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


__all__ = ["FollowUp", "FollowUpStep", "CaseRecovery", "MemberProfile"]


def _at(nullable: bool = True, index: bool = False):  # type: ignore[no-untyped-def]
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class FollowUp(SQLModel, table=True):
    """A light follow-up with a passive or a promoter: thank them, ask, record what they said."""

    __tablename__ = "follow_up"
    __table_args__ = (Index("ix_follow_up_team_listing", "team", "listed_key", "created_at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    response_id: int = Field(foreign_key="survey_response.id", unique=True)
    team: str = Field(max_length=64)
    category: str = Field(max_length=16, description="passive or promoter")
    status: str = Field(default="open", max_length=16, index=True, description="open, in_progress, done")
    owner_id: Optional[int] = Field(default=None, foreign_key="member.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    due_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    claimed_at: Optional[datetime] = _at()
    done_at: Optional[datetime] = _at()
    listed_key: Optional[str] = Field(default=None, max_length=200,
                                      description="outbox key of the batched post (page) that lists it")
    version: int = Field(default=0, description="bumped on every change; edits are keyed by it")


class FollowUpStep(SQLModel, table=True):
    """A ticked follow-up step: thank, ask or record."""

    __tablename__ = "follow_up_step"
    __table_args__ = (UniqueConstraint("follow_up_id", "step", name="uq_follow_up_step_once"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    follow_up_id: int = Field(foreign_key="follow_up.id", index=True)
    step: str = Field(max_length=16)
    actor_id: Optional[int] = Field(default=None, foreign_key="member.id")
    done_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    note: Optional[str] = Field(default=None, sa_type=Text)


class CaseRecovery(SQLModel, table=True):
    """The customer's first answer after a case of theirs had its loop closed, and what changed."""

    __tablename__ = "case_recovery"

    id: Optional[int] = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cx_case.id", unique=True)
    response_id: int = Field(foreign_key="survey_response.id", unique=True)
    matched_by: str = Field(max_length=16, description="customer_id or email")
    before_survey: str = Field(max_length=8)
    before_score: int
    after_survey: str = Field(max_length=8)
    after_score: int
    recovered: bool
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)


class MemberProfile(SQLModel, table=True):
    """A member's names as their chat profile shows them (Slack's users.info, Teams' roster)."""

    __tablename__ = "member_profile"
    __table_args__ = (UniqueConstraint("member_id", "platform", name="uq_member_profile"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    platform: str = Field(max_length=16)
    real_name: Optional[str] = Field(default=None, max_length=200)
    display_name: Optional[str] = Field(default=None, max_length=200)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


# Finding a customer's earlier answers (recovery): by their id, else by their email in any case.
_response = SQLModel.metadata.tables["survey_response"]
Index("ix_response_customer_id", _response.c.customer_id)
Index("ix_response_customer_email", func.lower(_response.c.customer_email))
