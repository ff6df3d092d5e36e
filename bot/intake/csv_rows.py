"""The CSV import's columns and rows: which column is which field, and one row's values checked
exactly as ResponseIn checks them (`fast_values` for the common valid case, `slow_values` naming the
problems otherwise; tests/test_csv_import.py checks the two agree)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal


from bot.intake.surveys import (
    EARLIEST,
    MAX_COMMENT,
    MAX_ID,
    MAX_NAME,
    SCORE_RANGE,
    FieldProblem,
    InvalidResponse,
    ResponseIn,
    build_response,
    latest_accepted,
)


SOURCE = "csv"
OpenCases = Literal["all", "recent", "none"]
OPEN_CASES: tuple[str, ...] = ("all", "recent", "none")

FIELDS: tuple[str, ...] = ("id", "survey", "score", "comment", "customer_id", "customer_name", "customer_email",
                           "touchpoint", "responded_at")
REQUIRED: tuple[str, ...] = ("id", "survey", "score", "responded_at")
# Other spellings accepted for a field, in --map and in headers.
ALIASES = {"external_id": "id", "customer.id": "customer_id", "customer.name": "customer_name",
           "customer.email": "customer_email"}
# ResponseIn attribute per field.
ATTR = {f: ("external_id" if f == "id" else f) for f in FIELDS}


_UTC = timezone.utc
_RANGES = {k.value: v for k, v in SCORE_RANGE.items()}
_MAX_EMAIL = 320
_MAX_TOUCHPOINT = 64


class CsvImportError(ValueError):
    """The file cannot be imported at all (unreadable, not UTF-8, no header, a bad mapping); nothing was stored."""


# --- the columns ---------------------------------------------------------------------------------


def _norm(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _field_name(name: str) -> str | None:
    n = name.strip().lower()
    n = ALIASES.get(n, n)
    return n if n in FIELDS else None


def _show(name: str) -> str:
    """A column name quoted for a message, with control characters escaped."""
    return json.dumps(name, ensure_ascii=False)


def check_mapping(mapping: dict[str, str] | None) -> dict[str, str]:
    """{csv column: field} with every field checked and normalised; CsvImportError names a bad one."""
    out: dict[str, str] = {}
    by_field: dict[str, str] = {}
    for column, target in (mapping or {}).items():
        if not isinstance(column, str) or not column.strip():
            raise CsvImportError(f"--map {column}={target}: the column name is empty")
        f = _field_name(target or "")
        if f is None:
            raise CsvImportError(f"--map {column}={target}: {_show(target or '')} is not a field; "
                                 f"the fields are {', '.join(FIELDS)}")
        if f in by_field:
            raise CsvImportError(f"--map: columns {_show(by_field[f])} and {_show(column)} are both mapped to {f}")
        by_field[f] = column
        out[column] = f
    return out


@dataclass(frozen=True)
class ColumnPlan:
    index: dict[str, int]          # field -> column index, for the fields the file has
    labels: dict[str, str]         # ResponseIn attribute -> how messages name it
    extras: list[tuple[int, str]]  # (index, name) of the columns that are no field
    width: int


def plan_columns(header: list[str], mapping: dict[str, str]) -> ColumnPlan:
    """Which column holds which field. CsvImportError for a mapped column the file lacks, a field given
    by two columns, or a required field with no column."""
    names = [h.strip() for h in header]
    index: dict[str, int] = {}
    taken: set[int] = set()
    for column, f in mapping.items():
        matches = [i for i, n in enumerate(names) if n == column.strip()]
        if not matches:
            matches = [i for i, n in enumerate(names) if _norm(n) == _norm(column)]
        if not matches:
            raise CsvImportError(f"--map {column}={f}: the file has no column {_show(column)} "
                                 f"(its columns: {', '.join(_show(n) for n in names)})")
        if len(matches) > 1:
            raise CsvImportError(f"--map {column}={f}: the file has {len(matches)} columns called {_show(column)}")
        index[f] = matches[0]
        taken.add(matches[0])
    for i, n in enumerate(names):
        if i in taken or not n:
            continue
        f = _field_name(_norm(n))
        if f is None or f in mapping.values():
            continue
        if f in index:
            raise CsvImportError(f"columns {_show(names[index[f]])} and {_show(n)} both hold {f}; "
                                 f"rename one, or name the one to use with --map COLUMN={f}")
        index[f] = i
        taken.add(i)
    missing = [f for f in REQUIRED if f not in index]
    if missing:
        what = ", ".join(missing)
        raise CsvImportError(
            f"the header has no column for {what} (required); its columns are "
            f"{', '.join(_show(n) for n in names)}. Name the column that holds "
            f"{'it' if len(missing) == 1 else 'each'} with --map COLUMN={missing[0]}")
    # Problems name the field, and the column too when it is called something else.
    labels = {ATTR[f]: f if names[i] == f else f"{f} (column {_show(names[i])})" for f, i in index.items()}
    extras = [(i, n) for i, n in enumerate(names) if i not in taken and n]
    return ColumnPlan(index=index, labels=labels, extras=extras, width=len(header))


# --- one row ---------------------------------------------------------------------------------------

Values = tuple[str, str, int, "str | None", "str | None", "str | None", "str | None", "str | None", datetime]
"""(external_id, survey, score, comment, customer_id, customer_name, customer_email, touchpoint, responded_at)"""


def fast_values(ext: str, survey: str, score: str, comment: str, customer_id: str, customer_name: str,
                customer_email: str, touchpoint: str, responded_at: str, *, latest: datetime | None = None
                ) -> Values | None:
    """The stored values of a row, for the common valid case; None when the row needs build_response.

    Takes the cells as `prepare_cells` leaves them (stripped, survey lower-cased, "" for empty) and applies
    ResponseIn's rules exactly, or defers: it must never accept what build_response refuses nor store
    anything different from what build_response would give. `latest` is `latest_accepted(now)` for the
    import's now (default: the process clock's).
    """
    if not ext or len(ext) > MAX_ID:
        return None
    rng = _RANGES.get(survey)
    if rng is None:
        return None
    if len(score) > 2 or not score.isdigit() or not score.isascii():
        return None
    n = int(score)
    if n < rng[0] or n > rng[1]:
        return None
    if (len(comment) > MAX_COMMENT or len(customer_id) > MAX_ID or len(customer_name) > MAX_NAME
            or len(customer_email) > _MAX_EMAIL or len(touchpoint) > _MAX_TOUCHPOINT):
        return None
    if customer_email:
        local, at, domain = customer_email.partition("@")
        if not at or not local or "." not in domain or " " in customer_email:
            return None
    if not responded_at:
        return None
    s = responded_at[:-1] + "+00:00" if responded_at[-1] == "Z" else responded_at
    try:
        dt = datetime.fromisoformat(s)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=_UTC)
        dt = dt.astimezone(_UTC)
        dt.timestamp()
    except (ValueError, OverflowError, OSError):
        return None
    if dt < EARLIEST or dt > (latest if latest is not None else latest_accepted()):
        return None
    return (ext, survey, n, comment or None, customer_id or None, customer_name or None, customer_email or None,
            touchpoint.lower() or None, dt)


def row_data(ext: str, survey: str, score: str, comment: str, customer_id: str, customer_name: str,
             customer_email: str, touchpoint: str, responded_at: str) -> dict[str, Any]:
    """The build_response input for a row's prepared cells (empty cells left out: 'is required')."""
    data: dict[str, Any] = {"source": SOURCE}
    for attr, v in (("external_id", ext), ("survey", survey), ("score", score), ("comment", comment),
                    ("customer_id", customer_id), ("customer_name", customer_name),
                    ("customer_email", customer_email), ("touchpoint", touchpoint), ("responded_at", responded_at)):
        if v:
            data[attr] = v
    return data


def slow_values(cells: tuple[str, ...], labels: dict[str, str] | None = None, *,
                now: datetime | None = None) -> Values:
    """build_response on a row's prepared cells; InvalidResponse naming each bad field by `labels`."""
    try:
        r: ResponseIn = build_response(row_data(*cells), labels, now=now)
    except InvalidResponse:
        raise
    except (ArithmeticError, OSError, TypeError, ValueError) as exc:  # a validator failed unwrapped
        raise InvalidResponse([FieldProblem(field="(row)", problem=f"cannot be read: {exc}")]) from None
    return (r.external_id, r.survey.value, r.score, r.comment, r.customer_id, r.customer_name, r.customer_email,
            r.touchpoint, r.responded_at)


def prepare_cells(ext: str, survey: str, score: str, comment: str, customer_id: str, customer_name: str,
                  customer_email: str, touchpoint: str, responded_at: str) -> tuple[str, ...]:
    """What a row's raw cells become before validation: stripped; the survey kind lower-cased (as the
    generic webhook takes it)."""
    return (ext.strip(), survey.strip().lower(), score.strip(), comment.strip(), customer_id.strip(),
            customer_name.strip(), customer_email.strip(), touchpoint.strip(), responded_at.strip())
