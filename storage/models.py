"""The database tables. State lives here, never only in memory."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


def _at(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class SurveyResponse(SQLModel, table=True):
    __tablename__ = "survey_response"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_response_source_external"),
        # Cover the score queries: a period filter (responded_at first), and whole-history grouping by
        # team or touchpoint (group columns first, so SQLite groups without sorting every row).
        Index("ix_response_scores", "responded_at", "team", "survey", "score"),
        Index("ix_response_team_scores", "team", "survey", "score", "responded_at"),
        Index("ix_response_touchpoint_scores", "touchpoint", "survey", "score", "responded_at"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    external_id: str = Field(max_length=200)
    survey: str = Field(max_length=8)
    score: int
    comment: Optional[str] = Field(default=None, sa_type=Text)
    customer_id: Optional[str] = Field(default=None, max_length=200)
    customer_name: Optional[str] = Field(default=None, max_length=200)
    customer_email: Optional[str] = Field(default=None, max_length=320)
    touchpoint: Optional[str] = Field(default=None, max_length=64)
    team: Optional[str] = Field(default=None, max_length=64)
    responded_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    raw: Optional[Any] = Field(default=None, sa_column=Column(JSON, nullable=True))


class Case(SQLModel, table=True):
    __tablename__ = "cx_case"

    id: Optional[int] = Field(default=None, primary_key=True)
    response_id: int = Field(foreign_key="survey_response.id", unique=True)
    team: str = Field(max_length=64, index=True)
    status: str = Field(default="open", max_length=16, index=True)
    owner_id: Optional[int] = Field(default=None, foreign_key="member.id", index=True)
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    claimed_at: Optional[datetime] = _at()
    first_response_at: Optional[datetime] = _at()
    resolved_at: Optional[datetime] = _at()
    loop_closed_at: Optional[datetime] = _at()
    loop_closed_how: Optional[str] = Field(default=None, max_length=32)
    loop_closed_note: Optional[str] = Field(default=None, sa_type=Text)
    closed_at: Optional[datetime] = _at()
    close_reason: Optional[str] = Field(default=None, sa_type=Text)
    respond_due_at: Optional[datetime] = _at(index=True)
    resolve_due_at: Optional[datetime] = _at(index=True)
    root_cause: Optional[str] = Field(default=None, max_length=32)
    round: int = Field(default=0, description="bumped on every reopen; steps belong to a round")
    dm_key: Optional[str] = Field(default=None, max_length=200, description="outbox key of the owner's DM")
    snoozed_until: Optional[datetime] = _at()
    snooze_reason: Optional[str] = Field(default=None, sa_type=Text)
    version: int = Field(default=0, description="bumped on every change; lets alerts be re-rendered once")


class CaseStep(SQLModel, table=True):
    """A ticked RESOLVED step."""

    __tablename__ = "case_step"
    __table_args__ = (UniqueConstraint("case_id", "round", "step", name="uq_step_once_per_round"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cx_case.id", index=True)
    round: int = 0
    step: str = Field(max_length=16)
    actor_id: Optional[int] = Field(default=None, foreign_key="member.id")
    done_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    note: Optional[str] = Field(default=None, sa_type=Text)
    customer_agreed: Optional[bool] = None
    root_cause: Optional[str] = Field(default=None, max_length=32)


class CaseEvent(SQLModel, table=True):
    """The case's history: every change, who made it and when."""

    __tablename__ = "case_event"

    id: Optional[int] = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cx_case.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    actor_id: Optional[int] = Field(default=None, foreign_key="member.id")
    kind: str = Field(max_length=24)
    detail: Optional[Any] = Field(default=None, sa_column=Column(JSON, nullable=True))


class Member(SQLModel, table=True):
    """A person cxloop knows, with one id per chat platform."""

    id: Optional[int] = Field(default=None, primary_key=True)
    slack_user_id: Optional[str] = Field(default=None, max_length=32, unique=True)
    teams_user_id: Optional[str] = Field(default=None, max_length=200, unique=True)
    name: Optional[str] = Field(default=None, max_length=200)
    email: Optional[str] = Field(default=None, max_length=320)
    tz: Optional[str] = Field(default=None, max_length=64)
    tz_checked_at: Optional[datetime] = _at()
    role: str = Field(default="agent", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    home_opened_at: Optional[datetime] = Field(
        default=None, sa_type=UTCDateTime, description="when they last opened the App Home: refreshes go to Homes in use")


class TeamMembership(SQLModel, table=True):
    __tablename__ = "team_membership"
    __table_args__ = (UniqueConstraint("team", "member_id", name="uq_team_member"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    team: str = Field(max_length=64, index=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    is_manager: bool = False
    removed: bool = Field(default=False, sa_column_kwargs={"server_default": false()},
                          description="removed in chat; the YAML must not bring them back")


class Shoutout(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    team: Optional[str] = Field(default=None, max_length=64, index=True)
    to_member_id: int = Field(foreign_key="member.id", index=True)
    from_member_id: Optional[int] = Field(default=None, foreign_key="member.id")
    source: str = Field(max_length=16, description="peer, customer or loop")
    text: str = Field(sa_type=Text)
    response_id: Optional[int] = Field(default=None, foreign_key="survey_response.id")
    case_id: Optional[int] = Field(default=None, foreign_key="cx_case.id")
    status: str = Field(default="posted", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)


class OutboxMessage(SQLModel, table=True):
    """A message to deliver. Written before anything is sent; the dedupe key makes it once-only."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),
                      # "is another worker delivering to this target?" (one worker per target at a time)
                      Index("ix_outbox_target", "platform", "target", "status"))

    id: Optional[int] = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=200, unique=True)
    platform: str = Field(default="slack", max_length=16)
    action: str = Field(max_length=16, description="post, update, dm, ephemeral, upload")
    target: str = Field(max_length=200, description="channel, conversation or user id")
    thread_key: Optional[str] = Field(default=None, max_length=200)
    anchor_key: Optional[str] = Field(default=None, max_length=200, description="for updates: the post to edit")
    payload: Any = Field(sa_column=Column(JSON, nullable=False))
    case_id: Optional[int] = Field(default=None, index=True)
    status: str = Field(default="pending", max_length=16, description="pending, sent, failed, superseded")
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    locked_by: Optional[str] = Field(default=None, max_length=64)
    locked_until: Optional[datetime] = _at()
    sent_channel: Optional[str] = Field(default=None, max_length=200)
    sent_ref: Optional[str] = Field(default=None, max_length=200, description="Slack ts or Teams activity id")
    last_error: Optional[str] = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    sent_at: Optional[datetime] = _at()
    maybe_sent: bool = Field(default=False, sa_column_kwargs={"server_default": false()},
                             description="an attempt may have reached the platform: look for it before sending again")
    # Physical instants, in seconds on the database's clock (storage/clock.py `database_seconds`),
    # because the platform's clock is what they are compared with, and workers on several machines
    # must agree on them.
    first_try_at: Optional[float] = Field(default=None, description="when the first send began: where a look-up starts")
    settle_until: Optional[float] = Field(
        default=None, description="an unanswered attempt may still land until then: no look-up before it")


class InboxItem(SQLModel, table=True):
    """A chat request acknowledged at once and handled after (by this process or a worker process).

    Stored before anything acts on it, so an acknowledged click or command is never lost to a
    crash: a worker leases it, handles it and marks it done; a lease that runs out is taken again.
    """

    __tablename__ = "inbox"
    __table_args__ = (Index("ix_inbox_due", "status", "id"), Index("ix_inbox_lane", "lane", "status", "id"),
                      Index("ix_inbox_done", "status", "done_at"))  # pruning by age

    id: Optional[int] = Field(default=None, primary_key=True)
    platform: str = Field(default="slack", max_length=16)
    lane: Optional[str] = Field(default=None, max_length=100,
                                description="items of one lane (one person's) are handled one at a time, in order")
    kind: str = Field(max_length=24, description="command, block_actions, event_callback, …")
    body: str = Field(sa_type=Text, description="the request body exactly as received")
    content_type: str = Field(max_length=100)
    status: str = Field(default="pending", max_length=16, description="pending, done, failed")
    attempts: int = 0
    locked_by: Optional[str] = Field(default=None, max_length=64)
    locked_until: Optional[datetime] = _at()
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    done_at: Optional[datetime] = _at()
    last_error: Optional[str] = Field(default=None, sa_type=Text)


class SendPace(SQLModel, table=True):
    """When the next message may go to one chat target (a channel, a conversation, a person's DM).

    Shared by every worker on every machine, so together they keep the platform's per-target rate;
    a 429's Retry-After is kept here too, so all of them wait it out. Times are seconds on the
    database's clock (storage/clock.py `database_seconds`), the one clock all workers share.
    """

    __tablename__ = "send_pace"

    platform: str = Field(max_length=16, primary_key=True)
    target: str = Field(max_length=200, primary_key=True)
    next_at: float = Field(default=0.0, description="no post before this (the target's pace)")
    held_until: float = Field(default=0.0, description="no call at all before this (a 429's Retry-After)")


class ProcessedEvent(SQLModel, table=True):
    """Ids of deliveries already handled, so a retry does nothing twice."""

    __tablename__ = "processed_event"
    __table_args__ = (UniqueConstraint("source", "event_id", name="uq_processed_event"),
                      Index("ix_processed_event_at", "at"))  # pruning by age

    id: Optional[int] = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    event_id: str = Field(max_length=200)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class CaseNudge(SQLModel, table=True):
    """A reminder, overdue notice or escalation that was queued: one row per (case, kind, due time)."""

    __tablename__ = "case_nudge"
    __table_args__ = (UniqueConstraint("case_id", "kind", "due_at", name="uq_nudge_once"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cx_case.id", index=True)
    kind: str = Field(max_length=32)
    due_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class JobClaim(SQLModel, table=True):
    """Scheduled work done once per key (a team's digest for a week, a Customer Service Week prompt)."""

    __tablename__ = "job_claim"

    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Pledge(SQLModel, table=True):
    """A customer-service pledge taken during Customer Service Week."""

    __table_args__ = (UniqueConstraint("year", "member_id", name="uq_pledge_once"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    year: int
    member_id: int = Field(foreign_key="member.id")
    team: Optional[str] = Field(default=None, max_length=64)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Story(SQLModel, table=True):
    """A customer story someone shared (Customer Service Week, Thursday)."""

    id: Optional[int] = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id")
    team: Optional[str] = Field(default=None, max_length=64)
    text: str = Field(sa_type=Text)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)


class ConversationRef(SQLModel, table=True):
    """Where the bot can reach people in Microsoft Teams: a channel, a team or a personal chat."""

    __tablename__ = "conversation_ref"

    id: Optional[int] = Field(default=None, primary_key=True)
    platform: str = Field(default="teams", max_length=16)
    conversation_id: str = Field(max_length=300, unique=True)
    kind: str = Field(max_length=16, description="channel, personal or groupChat")
    user_id: Optional[str] = Field(default=None, max_length=200, index=True, description="personal chats: the user")
    team_id: Optional[str] = Field(default=None, max_length=300)
    tenant_id: Optional[str] = Field(default=None, max_length=100)
    service_url: str = Field(max_length=500)
    name: Optional[str] = Field(default=None, max_length=300)
    reference: Any = Field(sa_column=Column(JSON, nullable=False), description="the serialized ConversationReference")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class TeamSetting(SQLModel, table=True):
    """A team setting changed in chat; it overrides the workspace YAML."""

    __tablename__ = "team_setting"
    __table_args__ = (UniqueConstraint("team", "field", name="uq_team_setting"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    team: str = Field(max_length=64, index=True)
    field: str = Field(max_length=32)
    value: Any = Field(sa_column=Column(JSON, nullable=True))
    updated_by: Optional[int] = Field(default=None, foreign_key="member.id")
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class AuditEntry(SQLModel, table=True):
    """Who changed what in chat, when, from what to what."""

    __tablename__ = "audit_entry"

    id: Optional[int] = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    actor_id: Optional[int] = Field(default=None, foreign_key="member.id")
    action: str = Field(max_length=48)
    target: str = Field(max_length=200)
    old: Optional[Any] = Field(default=None, sa_column=Column(JSON, nullable=True))
    new: Optional[Any] = Field(default=None, sa_column=Column(JSON, nullable=True))


class AssistUsage(SQLModel, table=True):
    """Tokens the assistant used on a day (UTC), so the daily budget holds across restarts and replicas."""

    __tablename__ = "assist_usage"

    day: date = Field(primary_key=True)
    tokens: int = Field(default=0, sa_type=BigInteger, nullable=False)
    requests: int = Field(default=0, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class AssistResult(SQLModel, table=True):
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


class ResponseTheme(SQLModel, table=True):
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


from storage.models_followup import *  # noqa: E402,F401,F403  (follow-ups, recovery, profiles)
from storage.models_improvement import (  # noqa: E402,F401  (the outer loop's tables: registered with the metadata)
    HuddleDismissal, Improvement, ImprovementAction, ImprovementEvent, ImprovementMeasure, ImprovementOwner)
from storage.models_privacy import (  # noqa: E402,F401  (customers' data: registered with the metadata)
    CustomerMessage, ErasedIdentity, ErasureRequest, ResponseRedaction)
