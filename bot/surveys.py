"""Survey kinds, score ranges and the normalised shape every intake path produces."""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


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
    if score <= 6:
        return NpsCategory.DETRACTOR
    if score <= 8:
        return NpsCategory.PASSIVE
    return NpsCategory.PROMOTER


def is_positive(kind: SurveyKind, score: int) -> bool:
    """Whether an answer is praise: an NPS promoter, CSAT 5, or CES 'agree' (4-5)."""
    if kind is SurveyKind.NPS:
        return score >= 9
    if kind is SurveyKind.CSAT:
        return score == 5
    return score >= 4


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


class ResponseIn(BaseModel):
    """One survey answer, whatever tool it came from, ready to be stored."""

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

    @field_validator("comment", "customer_id", "customer_name", "customer_email", "touchpoint", mode="before")
    @classmethod
    def _blank_is_none(cls, v: Any) -> Any:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return str(v)
        if isinstance(v, str) and not v.strip():
            return None
        return v

    @field_validator("external_id", mode="before")
    @classmethod
    def _id_as_text(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            return str(v)
        return v

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
    def _parse_instant(cls, v: Any) -> Any:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            try:
                return datetime.fromtimestamp(v, tz=timezone.utc)
            except (OverflowError, OSError, ValueError):
                raise ValueError("is not a time cxloop can store (out of range)") from None
        if isinstance(v, str):
            s = v.strip()
            if s.endswith("Z"):
                s = s[:-1] + "+00:00"
            try:
                return datetime.fromisoformat(s)
            except ValueError:
                raise ValueError("is not an ISO-8601 date-time") from None
        return v

    @field_validator("responded_at")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        # A time with no offset is taken as UTC, as exports from most survey tools are.
        if v.tzinfo is None:
            v = v.replace(tzinfo=timezone.utc)
        try:
            v = v.astimezone(timezone.utc)
            v.timestamp()
        except (OverflowError, OSError, ValueError):
            raise ValueError("is not a time cxloop can store (out of range)") from None
        return v

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


def build_response(data: dict[str, Any], paths: dict[str, str] | None = None) -> ResponseIn:
    """Validate `data` into a ResponseIn, raising InvalidResponse naming each bad field by `paths`."""
    paths = paths or {}
    try:
        return ResponseIn.model_validate(data)
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
