"""Survey kinds, score ranges and the normalised shape every intake path produces."""

from __future__ import annotations

import enum
import math
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from storage import clock

from bot.intake.cutoffs import DETRACTOR_MAX, PROMOTER_MIN, SATISFIED_MIN, UNHAPPY_MAX


class SurveyKind(str, enum.Enum):
    NPS = "nps"
    CSAT = "csat"
    CES = "ces"


SCORE_RANGE: dict[SurveyKind, tuple[int, int]] = {
    SurveyKind.NPS: (0, 10),
    SurveyKind.CSAT: (1, 5),
    SurveyKind.CES: (1, 5),
}



class NpsCategory(str, enum.Enum):
    DETRACTOR = "detractor"
    PASSIVE = "passive"
    PROMOTER = "promoter"


def nps_category(score: int) -> NpsCategory:
    """Detractors 0-6, passives 7-8, promoters 9-10."""
    if score <= DETRACTOR_MAX:
        return NpsCategory.DETRACTOR
    if score < PROMOTER_MIN:
        return NpsCategory.PASSIVE
    return NpsCategory.PROMOTER


def score_sentiment(kind: str, score: int) -> str:
    """What an answer alone says: "positive" (NPS 9-10, CSAT/CES 4-5), "negative" (NPS 0-6, CSAT/CES 1-2)
    or "neutral"."""
    if kind == SurveyKind.NPS.value:
        category = nps_category(score)
        return {NpsCategory.PROMOTER: "positive", NpsCategory.DETRACTOR: "negative"}.get(category, "neutral")
    return "positive" if score >= SATISFIED_MIN else ("negative" if score <= UNHAPPY_MAX else "neutral")


def is_positive(kind: SurveyKind, score: int) -> bool:
    """Whether an answer is praise: an NPS promoter, CSAT 5, or CES 'agree' (4-5)."""
    if kind is SurveyKind.NPS:
        return score >= PROMOTER_MIN
    if kind is SurveyKind.CSAT:
        return score == 5
    return score >= SATISFIED_MIN


class FieldProblem(BaseModel):
    field: str
    problem: str


class InvalidResponse(ValueError):
    """A response failed validation; `problems` names every bad field."""

    def __init__(self, problems: list[FieldProblem]):
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.problem}" for p in problems))


MAX_ID = 200
MAX_COMMENT = 100_000  # a 1 MiB body bounds it anyway; long rants are real
MAX_NAME = 200

# --- plausible answer times ------------------------------------------------------------------------
#
# A response time outside this window is a sender's bug (a 0 or -1 placeholder, milliseconds sent as
# seconds, a clock years off), never a real answer: stored, it would sit in no sensible reporting
# period, or count in a future week. So it is refused, naming the window, rather than stored.

EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
"""The earliest responded_at accepted (no survey tool cxloop reads predates it)."""
AHEAD = timedelta(days=1)
"""How far past the process clock's "now" a responded_at may be: room for a sender's clock running fast."""


def _z(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def latest_accepted(now: datetime | None = None) -> datetime:
    """The latest responded_at accepted at `now` (default: the process clock)."""
    return (now if now is not None else clock.now()) + AHEAD


def accepted_range(now: datetime | None = None, *, unix: bool = False) -> str:
    """The accepted window, as problem messages state it."""
    latest = latest_accepted(now)
    if unix:
        return (f"{int(EARLIEST.timestamp())} ({_z(EARLIEST)}) to {math.floor(latest.timestamp())} "
                f"({_z(latest)}, one day after now)")
    return f"{_z(EARLIEST)} to {_z(latest)} (one day after now)"


def check_plausible(dt: datetime, now: datetime | None = None) -> datetime:
    """`dt` as aware UTC if it lies in the accepted window; ValueError naming the window if not."""
    if dt.tzinfo is None:
        # A time with no offset is taken as UTC, as exports from most survey tools are.
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        utc = dt.astimezone(timezone.utc)
        utc.timestamp()
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{dt.isoformat()} is outside the accepted range, {accepted_range(now)}") from None
    if utc < EARLIEST or utc > latest_accepted(now):
        raise ValueError(f"{_z(utc)} is outside the accepted range, {accepted_range(now)}")
    return utc


def unix_instant(value: int | float, now: datetime | None = None) -> datetime:
    """Unix seconds as an aware UTC instant, only inside the accepted window; ValueError otherwise.

    Numbers are seconds, never guessed to be milliseconds: a number that would be a plausible time in
    milliseconds is refused with a hint instead, so a sender's unit mistake is seen at once rather than
    half the tools' answers being read one way and half the other.
    """
    if not math.isfinite(value):
        raise ValueError("is not a number of Unix seconds")
    lo, hi = EARLIEST.timestamp(), latest_accepted(now).timestamp()
    if lo <= value <= hi:
        return datetime.fromtimestamp(value, tz=timezone.utc)
    shown = repr(value) if isinstance(value, float) else str(value)
    if lo * 1000 <= value <= hi * 1000:
        raise ValueError(f"{shown} looks like Unix milliseconds; send Unix seconds, "
                         f"{accepted_range(now, unix=True)}, or an ISO-8601 date-time")
    raise ValueError(f"{shown} is outside the accepted range of Unix seconds, {accepted_range(now, unix=True)}")


def parse_instant(value: Any, now: datetime | None = None) -> datetime:
    """An answer time from ISO-8601 text (no offset: UTC), a datetime, or Unix seconds, as aware UTC inside
    the accepted window; ValueError with the problem otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"is not an ISO-8601 date-time or Unix seconds, but {json_type(value)}")
    if isinstance(value, (int, float)):
        return unix_instant(value, now)
    if isinstance(value, str):
        s = value.strip()
        if s.endswith(("Z", "z")):
            s = s[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(s)
        except ValueError:
            raise ValueError("is not an ISO-8601 date-time") from None
    if isinstance(value, datetime):
        return check_plausible(value, now)
    raise ValueError(f"is not an ISO-8601 date-time or Unix seconds, but {json_type(value)}")


def json_type(v: Any) -> str:
    """What a JSON value is, for a message: 'a number', 'a boolean', 'a list', 'an object'."""
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, (list, tuple)):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    if v is None:
        return "null"
    return f"a {type(v).__name__}"


def _now_of(info: ValidationInfo) -> datetime | None:
    ctx = info.context
    return ctx.get("now") if isinstance(ctx, dict) else None


class ResponseIn(BaseModel):
    """One survey answer, whatever tool it came from, ready to be stored.

    Validated against "now" (for the accepted window of responded_at): `build_response(..., now=)`
    passes it as the validation context; without one, the process clock is read.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source: str = Field(min_length=1, max_length=32)
    external_id: str = Field(min_length=1, max_length=MAX_ID)
    survey: SurveyKind
    score: int
    comment: str | None = Field(default=None, max_length=MAX_COMMENT)
    customer_id: str | None = Field(default=None, max_length=MAX_ID)
    customer_name: str | None = Field(default=None, max_length=MAX_NAME)
    customer_email: str | None = Field(default=None, max_length=320)
    touchpoint: str | None = Field(default=None, max_length=64)
    responded_at: datetime
    raw: dict[str, Any] | list[Any] | None = None

    @field_validator("score", mode="before")
    @classmethod
    def _integer_score(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("must be a whole number")
        if isinstance(v, float):
            if not v.is_integer():
                raise ValueError("must be a whole number")
            return int(v)
        if isinstance(v, str):
            s = v.strip()
            if not s.lstrip("-").isdigit():
                raise ValueError("must be a whole number")
            return int(s)
        return v

    @field_validator("survey", mode="before")
    @classmethod
    def _survey_text(cls, v: Any) -> Any:
        if v is None or isinstance(v, (str, SurveyKind)):
            return v
        raise ValueError(f"must be one of nps, csat, ces as text, not {json_type(v)}")

    @field_validator("comment", "customer_id", "customer_name", "customer_email", "touchpoint", mode="before")
    @classmethod
    def _text_or_none(cls, v: Any) -> Any:
        # Text only: a number, boolean, list or object here is a sender's mapping mistake, and
        # stringified ("-1", "1e+308", "True") it would be stored, routed and shown as if it were a name.
        if v is None:
            return None
        if not isinstance(v, str):
            raise ValueError(f"must be text (a JSON string), not {json_type(v)}")
        return v if v.strip() else None

    @field_validator("external_id", mode="before")
    @classmethod
    def _id_as_text(cls, v: Any) -> Any:
        # Whole numbers are exact, and some tools number their responses: 77 is the id "77".
        if isinstance(v, int) and not isinstance(v, bool):
            return str(v)
        if v is None or isinstance(v, str):
            return v
        raise ValueError(f"must be text or a whole number, not {json_type(v)}")

    @field_validator("customer_email")
    @classmethod
    def _email_shape(cls, v: str | None) -> str | None:
        if v is None:
            return v
        local, at, domain = v.partition("@")
        if not at or not local or "." not in domain or " " in v:
            raise ValueError("is not an email address")
        return v

    @field_validator("touchpoint")
    @classmethod
    def _touchpoint_key(cls, v: str | None) -> str | None:
        return v.lower() if v else v

    @field_validator("responded_at", mode="before")
    @classmethod
    def _plausible_instant(cls, v: Any, info: ValidationInfo) -> Any:
        return parse_instant(v, _now_of(info))

    @model_validator(mode="after")
    def _score_in_range(self) -> "ResponseIn":
        lo, hi = SCORE_RANGE[self.survey]
        if not lo <= self.score <= hi:
            raise ValueError(f"score {self.score} is outside {lo}-{hi} for {self.survey.value}")
        return self


# Field paths used in error reports, per ResponseIn attribute, for the generic shape.
GENERIC_FIELD_PATHS = {
    "external_id": "id",
    "customer_id": "customer.id",
    "customer_name": "customer.name",
    "customer_email": "customer.email",
}


def build_response(data: dict[str, Any], paths: dict[str, str] | None = None, *,
                   now: datetime | None = None) -> ResponseIn:
    """Validate `data` into a ResponseIn, raising InvalidResponse naming each bad field by `paths`.

    `now` (default: the process clock) bounds responded_at: see EARLIEST and AHEAD.
    """
    paths = paths or {}
    try:
        return ResponseIn.model_validate(data, context={"now": now})
    except ValidationError as exc:
        problems: list[FieldProblem] = []
        for err in exc.errors():
            loc = [str(x) for x in err["loc"]]
            name = loc[0] if loc else "score"
            if not loc:
                # model-level check (score range)
                name = "score"
            field = paths.get(name, name)
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                msg = "is required"
            elif err["type"] == "extra_forbidden":
                msg = "is not a known field"
            elif err["type"] == "enum":
                msg = "must be one of nps, csat, ces"
            problems.append(FieldProblem(field=field, problem=msg))
        # The range check runs only on an otherwise valid model; report it alongside the rest.
        if not any(p.field == paths.get("score", "score") for p in problems):
            kind, score = data.get("survey"), data.get("score")
            try:
                k = SurveyKind(kind)
                n = int(score) if isinstance(score, (int, str)) and not isinstance(score, bool) else None
            except (ValueError, TypeError):
                k, n = None, None
            if k is not None and n is not None:
                lo, hi = SCORE_RANGE[k]
                if not lo <= n <= hi:
                    problems.append(FieldProblem(field=paths.get("score", "score"),
                                                 problem=f"score {n} is outside {lo}-{hi} for {k.value}"))
        raise InvalidResponse(problems) from None
