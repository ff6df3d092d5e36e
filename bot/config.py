"""The workspace YAML, validated at start. (Process settings from the environment: bot/settings.py.)"""

from __future__ import annotations

import re
from datetime import date, time as Clock, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, ValidationInfo, field_validator,
                      model_validator)

# Their home before bot/settings.py: many import them from here.
from bot.errors import ConfigError  # noqa: F401
from bot.settings import Settings  # noqa: F401
from bot.intake.surveys import SurveyKind

DATA = Path(__file__).parent / "data"
SAMPLE_WORKSPACE = DATA / "workspace.yaml"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """'8h', '5d', '90m', '2w' (or a number of seconds) as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2).lower()])
        if value.strip().upper().startswith("P"):  # ISO 8601, e.g. PT8H or P5D
            try:
                return TypeAdapter(timedelta).validate_python(value.strip())
            except ValidationError:
                pass
    raise ValueError(f"{value!r} is not a duration such as 90m, 8h or 5d")


def format_duration(td: timedelta) -> str:
    """The shortest of '5d', '8h', '90m' that is exact."""
    secs = int(td.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs and secs % size == 0:
            return f"{secs // size}{unit}"
    return f"{secs}s"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Thresholds(_Strict):
    """The highest score that opens a case, per survey kind."""

    nps: int = Field(default=6, ge=0, le=10)
    csat: int = Field(default=2, ge=1, le=5)
    ces: int = Field(default=2, ge=1, le=5)

    def for_kind(self, kind: SurveyKind) -> int:
        return getattr(self, kind.value)


class BusinessHours(_Strict):
    days: list[int] = Field(default=[0, 1, 2, 3, 4], description="0 = Monday")
    start: Clock = Clock(9, 0)
    end: Clock = Clock(17, 0)


class Sla(_Strict):
    respond_within: timedelta = timedelta(hours=24)
    resolve_within: timedelta = timedelta(days=5)
    business_hours: bool = False
    remind_before: timedelta = Field(default=timedelta(hours=2), description="owner reminder before a due time")
    escalate_after: timedelta = Field(default=timedelta(hours=4), description="overdue this long: tell managers")
    unclaimed_after: timedelta = Field(default=timedelta(hours=1), description="prompt the channel for an owner")
    snooze_max: timedelta = Field(default=timedelta(days=3), description="longest snooze an owner may set")

    @field_validator("respond_within", "resolve_within", "remind_before", "escalate_after", "unclaimed_after",
                     "snooze_max", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> timedelta:
        return parse_duration(v)


class FollowUpRule(_Strict):
    """Which answers of one survey kind become follow-ups, and their SLA; unset fields fall back
    (team, then workspace, then the defaults: on for NPS passives and promoters, off for CSAT and CES)."""

    passives: bool | None = Field(default=None, description="NPS 7-8, CSAT 4")
    promoters: bool | None = Field(default=None, description="NPS 9-10, CSAT 5, CES 4-5")
    within: timedelta | None = Field(default=None, description="the follow-up's SLA (default 3d)")
    review_url: str | None = Field(default=None, description="the link promoters are asked to review at")

    @field_validator("within", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> timedelta | None:
        return None if v is None else parse_duration(v)

    @field_validator("within")
    @classmethod
    def _positive(cls, v: timedelta | None) -> timedelta | None:
        if v is not None and v <= timedelta(0):
            raise ValueError("must be longer than 0")
        return v

    @field_validator("review_url")
    @classmethod
    def _https(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https://[^\s/$.?#][^\s<>|]*$", v):
            raise ValueError(f"{v!r} is not an https:// link")
        return v


class FollowUps(_Strict):
    """`follow_up:` per survey kind (workspace-wide, or per team to override it)."""

    nps: FollowUpRule = FollowUpRule()
    csat: FollowUpRule = FollowUpRule()
    ces: FollowUpRule = FollowUpRule()


class Team(_Strict):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str | None = None
    slack_channel: str | None = None
    teams_channel: str | None = None
    touchpoints: list[str] = []
    managers: list[str] = []
    members: list[str] = []
    sla: Sla | None = None
    round_robin: bool = False
    follow_up: FollowUps | None = None

    @field_validator("touchpoints")
    @classmethod
    def _lower(cls, v: list[str]) -> list[str]:
        return [t.strip().lower() for t in v]

    @property
    def title(self) -> str:
        return self.name or self.key.replace("-", " ").replace("_", " ").title()


class Person(_Strict):
    """Roster details for a member: names to match in customer praise, time zone."""

    name: str
    aliases: list[str] = []
    tz: str | None = None


class TypeformForm(_Strict):
    survey: SurveyKind
    score_field: str = Field(description="field ref or id of the score question")
    comment_field: str | None = None
    email_field: str | None = None
    name_field: str | None = None
    touchpoint: str | None = Field(default=None, description="a fixed touchpoint for this form")
    touchpoint_hidden: str | None = Field(default=None, description="hidden field carrying the touchpoint")
    customer_id_field: str | None = Field(default=None, description="hidden field (or field ref or id) carrying your customer id")


class FormbricksSurvey(_Strict):
    survey: SurveyKind
    score_question: str
    comment_question: str | None = None
    touchpoint: str | None = None
    # Keys in the response's data (a question id or a hidden field id); without them the email and
    # customer id come from the Formbricks contact, and the touchpoint is the fixed one above.
    touchpoint_field: str | None = None
    email_field: str | None = None
    customer_id_field: str | None = None


class Sources(_Strict):
    typeform_forms: dict[str, TypeformForm] = {}
    formbricks_surveys: dict[str, FormbricksSurvey] = {}
    delighted_touchpoint: str | None = None


class AssistConfig(_Strict):
    """The assistant's workspace settings; the key, model and on/off switch are environment variables."""

    themes: list[str] | dict[str, list[str]] | None = Field(
        default=None, description="the theme list (default: six built in); a mapping adds keywords per theme")
    daily_tokens: int | None = Field(default=None, ge=0, description="tokens a day, UTC (default 200,000)")

    @field_validator("themes")
    @classmethod
    def _themes(cls, v: Any) -> Any:
        if v is not None:
            from bot.assist.themes import ThemeSet

            ThemeSet.of(v)  # raises on an empty list
        return v


class Digest(_Strict):
    day: int = Field(default=0, ge=0, le=6, description="0 = Monday")
    time: Clock = Clock(9, 0)


class Recognition(_Strict):
    approval: bool = Field(default=False, description="customer shout-outs wait for a manager's Approve")


class CsWeek(_Strict):
    """Customer Service Week: by default the first full Monday-Friday week of October."""

    enabled: bool = True
    start: date | None = Field(default=None, description="a Monday: that year's week starts here instead")
    time: Clock = Field(default=Clock(9, 30), description="when each day's prompt goes out (workspace zone)")

    @field_validator("start")
    @classmethod
    def _a_monday(cls, v: date | None) -> date | None:
        if v is not None and v.weekday() != 0:
            raise ValueError(f"{v.isoformat()} is a {v:%A}; Customer Service Week starts on a Monday")
        return v


class Huddle(_Strict):
    """Each team's weekly huddle post (bot/improvement/huddle.py)."""

    enabled: bool = True
    day: int = Field(default=2, ge=0, le=6, description="0 = Monday")
    time: Clock = Field(default=Clock(10, 0), description="in the workspace time zone")


class Improvements(_Strict):
    """How improvements are measured and guarded (bot/improvement/checkins.py)."""

    min_responses: int = Field(default=20, ge=1, le=100000,
                               description="answers a measurement needs before a change is judged")
    revisits: list[int] = Field(default=[30, 60, 90], description="days after entering Control")

    @field_validator("revisits")
    @classmethod
    def _days(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("give at least one revisit day, such as [30, 60, 90]")
        if any(d < 1 or d > 3650 for d in v):
            raise ValueError("revisit days must be from 1 to 3650")
        if sorted(set(v)) != v:
            raise ValueError(f"{v} must be days in increasing order, each once, such as [30, 60, 90]")
        return v


class Retention(_Strict):
    """How long cxloop keeps things: the records of its own work, and customers' data (off when absent)."""

    delivery: timedelta = Field(
        default=timedelta(days=14),
        description="handled inbox items, finished outbox rows and processed event ids (at least 1d)")
    customer_details: timedelta | None = Field(
        default=None, description="customers' names, emails and customer ids (and the raw bodies holding them)")
    comments: timedelta | None = Field(
        default=None, description="customers' comments, the notes on their cases, and every copy of them")
    raw_bodies: timedelta | None = Field(default=None, description="the survey tools' raw webhook bodies and CSV extras")

    @field_validator("delivery", "customer_details", "comments", "raw_bodies", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> timedelta | None:
        return None if v is None else parse_duration(v)

    @field_validator("delivery", "customer_details", "comments", "raw_bodies")
    @classmethod
    def _at_least_a_day(cls, v: timedelta | None, ctx: ValidationInfo) -> timedelta | None:
        what = "delivery records" if ctx.field_name == "delivery" else "them"
        # Slack and the survey tools retry a delivery for hours: its event id must outlive that (and
        # a customer's details are needed at least until their case is looked at).
        if v is not None and v < timedelta(days=1):
            raise ValueError(f"{format_duration(v)} is too short; keep {what} at least 1d")
        return v


OUTGOING_EVENTS = ("loop_closed", "follow_up_done")


class Outgoing(_Strict):
    """An optional outgoing webhook: cxloop tells a survey tool or a CRM when a loop is closed."""

    url: str
    secret: str = Field(min_length=16, description="signs each body (X-Cxloop-Signature)")
    events: list[str] = Field(default=list(OUTGOING_EVENTS), min_length=1)
    timeout: timedelta = Field(default=timedelta(seconds=10), description="per delivery attempt")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(v)
        local = parts.hostname in ("localhost", "127.0.0.1", "::1")
        # Bodies carry customers' names and emails: plain http only to this machine.
        if not parts.hostname or parts.scheme not in ("https", "http") or (parts.scheme == "http" and not local):
            raise ValueError(f"{v!r} is not an https:// URL (http:// is allowed for localhost only)")
        return v

    @field_validator("events")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        for e in v:
            if e not in OUTGOING_EVENTS:
                raise ValueError(f"{e!r} is not an event; use {', '.join(OUTGOING_EVENTS)}")
        return list(dict.fromkeys(v))

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> timedelta:
        if isinstance(v, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*s\s*", v):
            return timedelta(seconds=float(v.strip()[:-1]))
        return parse_duration(v)


class Workspace(_Strict):
    timezone: str = "UTC"
    thresholds: Thresholds = Thresholds()
    sla: Sla = Sla()
    business_hours: BusinessHours = BusinessHours()
    teams: list[Team] = Field(min_length=1)
    default_team: str
    admins: list[str] = []
    people: dict[str, Person] = {}
    mask_email: bool = True
    sources: Sources = Sources()
    digest: Digest = Digest()
    assist: AssistConfig = AssistConfig()
    recognition: Recognition = Recognition()
    teams_members: dict[str, str] = Field(default={}, description="Teams (Entra object) id -> Slack user id")
    cs_week: CsWeek = CsWeek()
    retention: Retention = Retention()
    follow_up: FollowUps = FollowUps()
    outgoing: Outgoing | None = None
    huddle: Huddle = Huddle()
    improvements: Improvements = Improvements()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "Workspace":
        keys = [t.key for t in self.teams]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"team key {dupes[0]!r} is used twice")
        if self.default_team not in keys:
            raise ValueError(f"default_team {self.default_team!r} is not one of the teams ({', '.join(keys)})")
        seen: dict[str, str] = {}
        for t in self.teams:
            for tp in t.touchpoints:
                if tp in seen:
                    raise ValueError(f"touchpoint {tp!r} is routed to both {seen[tp]!r} and {t.key!r}")
                seen[tp] = t.key
        return self

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def team(self, key: str) -> Team:
        for t in self.teams:
            if t.key == key:
                return t
        raise KeyError(key)

    def route(self, touchpoint: str | None) -> str:
        """The team that owns a touchpoint, else the default team."""
        if touchpoint:
            tp = touchpoint.lower()
            for t in self.teams:
                if tp in t.touchpoints:
                    return t.key
        return self.default_team

    def sla_for(self, team: str) -> Sla:
        t = self.team(team)
        return t.sla or self.sla


def _where(loc: tuple[Any, ...], data: Any) -> str:
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int) and isinstance(node, list) and 0 <= item < len(node):
            node = node[item]
            key = node.get("key") if isinstance(node, dict) else None
            parts[-1:] = [f"{parts[-1] if parts else ''}[{key or item}]"]
            continue
        parts.append(str(item))
        node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts) or "(top level)"


def load_workspace(path: Path | str | None = None) -> Workspace:
    """Read and validate the workspace YAML; errors name the offending key."""
    path = Path(path) if path else SAMPLE_WORKSPACE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: workspace file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_workspace(data, origin=str(path))


def parse_workspace(data: Any, origin: str = "workspace") -> Workspace:
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping of keys")
    try:
        return Workspace.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "is not a known key"
            elif err["type"] == "missing":
                msg = "is required"
            lines.append(f"{_where(err['loc'], data)}: {msg}")
        raise ConfigError(f"{origin}: " + "; ".join(lines)) from None
