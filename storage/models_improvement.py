"""The outer loop's tables: improvements, their owners, plan actions, history and measurements, and
the huddle patterns set aside with "Not now"."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


def _at(nullable: bool = True, index: bool = False, description: str | None = None) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index, description=description)


class Improvement(SQLModel, table=True):
    """A fix for something that keeps going wrong, measured against the baseline the bot computed."""

    __tablename__ = "improvement"
    __table_args__ = (Index("ix_improvement_team_stage", "team", "stage"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    team: str = Field(max_length=64)
    title: str = Field(max_length=200)
    problem: str = Field(sa_type=Text)
    stage: str = Field(default="plan", max_length=16, index=True)
    # The segment: the team always; a touchpoint, a theme and a root-cause area when set.
    touchpoint: Optional[str] = Field(default=None, max_length=64)
    theme: Optional[str] = Field(default=None, max_length=48)
    root_cause: Optional[str] = Field(default=None, max_length=32)
    metric: str = Field(max_length=16, description="nps, csat, ces or theme_share")
    target_value: float
    target_date: date
    # The baseline: the 8 weeks before the improvement started, computed by the bot when it started.
    baseline_since: datetime = Field(sa_type=UTCDateTime, nullable=False)
    baseline_until: datetime = Field(sa_type=UTCDateTime, nullable=False)
    baseline_n: int = 0
    baseline_hits: int = Field(default=0, description="promoters, satisfied, agree, or responses raising the theme")
    baseline_detractors: int = Field(default=0, description="NPS only")
    baseline_value: Optional[float] = None
    baseline_low: Optional[float] = Field(default=None, description="the baseline's 95% interval")
    baseline_high: Optional[float] = None
    pattern: Optional[str] = Field(default=None, max_length=120, description="the huddle pattern it came from")
    change_started_at: Optional[datetime] = _at(description="when it last entered Do: check-ins measure from here")
    control_started_at: Optional[datetime] = _at(description="when it last entered Control: revisits count from here")
    closed_at: Optional[datetime] = _at()
    cancel_reason: Optional[str] = Field(default=None, sa_type=Text)
    slipping: bool = Field(default=False, sa_column_kwargs={"server_default": false()},
                           description="the last revisit was back in the baseline's range: one alert per slip")
    created_by: Optional[int] = Field(default=None, foreign_key="member.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    version: int = Field(default=0, description="bumped on every change; its post is edited once per version")


class ImprovementOwner(SQLModel, table=True):
    __tablename__ = "improvement_owner"
    __table_args__ = (UniqueConstraint("improvement_id", "member_id", name="uq_improvement_owner"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    improvement_id: int = Field(foreign_key="improvement.id", index=True)
    member_id: int = Field(foreign_key="member.id", index=True)


class ImprovementAction(SQLModel, table=True):
    """One action of an improvement's plan, with its owner and due time; ticked in chat."""

    __tablename__ = "improvement_action"

    id: Optional[int] = Field(default=None, primary_key=True)
    improvement_id: int = Field(foreign_key="improvement.id", index=True)
    title: str = Field(max_length=300)
    owner_id: int = Field(foreign_key="member.id", index=True)
    due_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    done_at: Optional[datetime] = _at()
    done_by: Optional[int] = Field(default=None, foreign_key="member.id")
    snoozed_until: Optional[datetime] = _at()
    snooze_reason: Optional[str] = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ImprovementEvent(SQLModel, table=True):
    """An improvement's history: every move, action, measurement and alert, who and when."""

    __tablename__ = "improvement_event"

    id: Optional[int] = Field(default=None, primary_key=True)
    improvement_id: int = Field(foreign_key="improvement.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    actor_id: Optional[int] = Field(default=None, foreign_key="member.id")
    kind: str = Field(max_length=24)
    detail: Optional[Any] = Field(default=None, sa_column=Column(JSON, nullable=True))


class ImprovementMeasure(SQLModel, table=True):
    """A measurement posted once: a weekly check-in, a Control revisit, or the target date's verdict.

    The unique (improvement, kind, label) is the claim: a re-run, a restart or a second replica
    finds the row and posts nothing more.
    """

    __tablename__ = "improvement_measure"
    __table_args__ = (UniqueConstraint("improvement_id", "kind", "label", name="uq_improvement_measure"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    improvement_id: int = Field(foreign_key="improvement.id", index=True)
    kind: str = Field(max_length=16, description="check, revisit or target")
    label: str = Field(max_length=64, description="check:<change start>:<week>, revisit:<control start>:<day>, …")
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    since: datetime = Field(sa_type=UTCDateTime, nullable=False)
    until: datetime = Field(sa_type=UTCDateTime, nullable=False)
    n: int = 0
    hits: int = 0
    detractors: int = 0
    value: Optional[float] = None
    change: Optional[float] = None
    change_low: Optional[float] = None
    change_high: Optional[float] = None
    enough: bool = False
    met: bool = False
    regressed: bool = False


class HuddleDismissal(SQLModel, table=True):
    """A huddle pattern set aside with "Not now": it returns only when it grows past `responses`."""

    __tablename__ = "huddle_dismissal"
    __table_args__ = (UniqueConstraint("team", "dimension", "value", name="uq_huddle_dismissal"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    team: str = Field(max_length=64)
    dimension: str = Field(max_length=16)
    value: str = Field(max_length=64)
    responses: int = Field(description="the pattern's detractor responses when it was set aside")
    by: Optional[int] = Field(default=None, foreign_key="member.id")
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
