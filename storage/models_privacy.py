"""Customers' data: erased identities, what was erased, and the chat messages kept so they can be edited.

None of these tables holds a customer's identity or words: an erased email or customer id is kept
only as a keyed hash (bot/privacy/keys.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


class ErasedIdentity(SQLModel, table=True):
    """A keyed hash of an erased customer's email or customer id, so their old answers are not taken in again."""

    __tablename__ = "erased_identity"
    __table_args__ = (UniqueConstraint("kind", "digest", name="uq_erased_identity"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16, description="email or customer_id")
    digest: str = Field(max_length=64, description="HMAC-SHA256 of the normalised value, in hex")
    key_id: str = Field(max_length=16, description="which key made the digest (never the key itself)")
    erased_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False,
                                description="answers given up to then are refused; later ones are new data")


class ResponseRedaction(SQLModel, table=True):
    """What was removed from a survey response, when, and why (an erasure request or a retention window)."""

    __tablename__ = "response_redaction"

    response_id: int = Field(foreign_key="survey_response.id", primary_key=True)
    reason: str = Field(max_length=16, description="request or retention")
    details_at: Optional[datetime] = Field(default=None, sa_type=UTCDateTime, nullable=True)
    comment_at: Optional[datetime] = Field(default=None, sa_type=UTCDateTime, nullable=True)
    raw_at: Optional[datetime] = Field(default=None, sa_type=UTCDateTime, nullable=True)


class ErasureRequest(SQLModel, table=True):
    """An erasure asked for in chat, carried out by the next `run-due` (or the scheduler), once, even across
    a crash; the email and customer id are cleared when it is done."""

    __tablename__ = "erasure_request"
    __table_args__ = (Index("ix_erasure_request_status", "status", "id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    requested_by: Optional[int] = Field(default=None, foreign_key="member.id")
    requested_via: str = Field(max_length=100, description="slack or teams")
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    email: Optional[str] = Field(default=None, max_length=320, description="cleared once the request is done")
    customer_id: Optional[str] = Field(default=None, max_length=200, description="cleared once the request is done")
    status: str = Field(default="pending", max_length=16, description="pending, done or failed")
    locked_until: Optional[datetime] = Field(default=None, sa_type=UTCDateTime, nullable=True)
    attempts: int = 0
    done_at: Optional[datetime] = Field(default=None, sa_type=UTCDateTime, nullable=True)
    counts: Optional[Any] = Field(default=None, sa_column=Column(JSON, nullable=True),
                                  description="how many records of each kind were erased (never what)")
    last_error: Optional[str] = Field(default=None, sa_type=Text)


class CustomerMessage(SQLModel, table=True):
    """A sent chat message (its outbox row) that showed customer data, kept past `retention.delivery`.

    Housekeeping leaves these outbox rows alone, so that an erasure or a retention window can still
    find the message and edit it; the mark goes once nothing in the message is a customer's any more.
    """

    __tablename__ = "customer_message"

    outbox_id: int = Field(primary_key=True, description="outbox.id (no foreign key: housekeeping owns the outbox)")
    marked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
