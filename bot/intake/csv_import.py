"""Bulk intake from a CSV file: `cxloop import FILE.csv`.

The columns default to the generic webhook's field names (`id, survey, score, comment, customer_id,
customer_name, customer_email, touchpoint, responded_at`); `mapping` ({csv column: field}, from
`--map column=field`) names others. Rows are stored with source "csv", once each: a re-import of
the same file adds nothing, and an id seen before (earlier in the file or in an earlier import)
counts as a duplicate. A bad row is reported with its physical line number (the header is line 1;
a quoted comment spanning lines counts every line) and the problems build_response names (among
them a responded_at outside the accepted window, 2000-01-01 to a day after the import's `now`), and
never stops the good rows; nothing of it is stored.

How it stays fast (a million rows at a good fraction of a raw sqlite3 executemany):
- the file is checked to be UTF-8 in one C-speed pass before anything is stored;
- each row goes through `fast_values`, a hand-written check of the common valid case that applies
  exactly ResponseIn's rules; any row it is not sure about goes through build_response, which
  either accepts it or names the problems (tests/test_csv_import.py checks the two agree);
- rows are stored in batches (BATCH_ROWS), one transaction per batch, by one Core
  `INSERT ... ON CONFLICT (source, external_id) DO NOTHING`, and only newly inserted detractors
  open cases: `open_case` + `publish_opened` (the outbox), in the same transaction as their
  response. Which rows were inserted: on PostgreSQL, `RETURNING id, external_id` (run by psycopg's
  pipelined executemany); on SQLite, where SQLAlchemy's per-row parameter handling would cost more than
  the insert itself, the compiled statement runs through the driver's executemany, `rowcount` says
  how many were inserted, and the batch's write lock (BEGIN IMMEDIATE) makes "id above the largest
  id before the insert" exactly the rows it inserted. Within a batch, a repeated id is dropped
  before the insert (the first occurrence wins); across batches and imports the conflict clause
  drops it;
- values are encoded once in the form the column types would bind them (naive UTC text for
  SQLite's datetimes, JSON text for `raw`), so no per-value type processing runs in the insert.

Columns that are no field are kept, per row, in `raw` ({column: cell}, non-empty cells only).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal, NamedTuple

from sqlalchemy import JSON, Column, DateTime, Engine, Integer, MetaData, String, Table, func, select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError

from bot.cases.service import open_case
from bot.config import Workspace
from bot.cases.notify import publish_opened
from bot.cases.sla import due_times
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
from storage.db import session_scope
from storage.models import SurveyResponse
from storage.types import UTCDateTime, utcnow

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

BATCH_ROWS = 5000
"""Rows per transaction: big enough that commits cost nothing, small enough to hold the write lock briefly."""
MAX_ERRORS = 10_000
"""Bad rows listed in the report (all are counted); a file of a million bad rows is reported by count."""

_UTC = timezone.utc
_RANGES = {k.value: v for k, v in SCORE_RANGE.items()}
_MAX_EMAIL = 320
_MAX_TOUCHPOINT = 64


class CsvImportError(ValueError):
    """The file cannot be imported at all (unreadable, not UTF-8, no header, a bad mapping); nothing was stored."""


class ImportInterrupted(RuntimeError):
    """The database failed part-way; the batches before `line` are stored (a re-run skips them as duplicates)."""

    def __init__(self, message: str, report: "ImportReport", line: int):
        super().__init__(message)
        self.report = report
        self.line = line


class RowError(NamedTuple):
    """A rejected row: its physical line number in the file (header = 1) and why."""

    line: int
    reason: str


@dataclass
class ImportReport:
    path: str
    imported: int = 0
    duplicate: int = 0
    rejected: int = 0
    cases_opened: int = 0
    errors: list[RowError] = field(default_factory=list)
    errors_not_listed: int = 0
    extra_columns: list[str] = field(default_factory=list)
    """Header columns that are no field: their non-empty cells are kept in each response's `raw`."""

    @property
    def rows(self) -> int:
        return self.imported + self.duplicate + self.rejected

    def summary(self) -> str:
        return (f"imported {self.imported}, duplicate {self.duplicate}, rejected {self.rejected}, "
                f"cases opened {self.cases_opened}")

    def _reject(self, line: int, reason: str, limit: int) -> None:
        self.rejected += 1
        if len(self.errors) < limit:
            self.errors.append(RowError(line, reason))
        else:
            self.errors_not_listed += 1


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


# --- the file --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scan:
    size: int
    has_nul: bool
    delimiter: str


def _scan(path: Path) -> _Scan:
    """One pass over the bytes: readable, UTF-8 throughout, not empty; NULs present; the delimiter."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        raise CsvImportError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CsvImportError(f"{path}: is a directory, not a CSV file") from None
    except OSError as exc:
        raise CsvImportError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    decoder = codecs.getincrementaldecoder("utf-8")()
    size = 0
    lines = 0
    has_nul = False
    first = b""
    with fh:
        while True:
            try:
                chunk = fh.read(1 << 20)
            except OSError as exc:
                raise CsvImportError(f"{path}: cannot be read: {exc.strerror or exc}") from None
            if not first and chunk:
                first = chunk[:65536]
            pending = decoder.getstate()[0]
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                data = pending + chunk
                offset = size - len(pending) + exc.start
                line = lines + data[:exc.start].count(b"\n") + 1
                bad = data[exc.start:exc.end].hex(" ")
                raise CsvImportError(
                    f"{path}: is not UTF-8 text: line {line} has the byte(s) {bad} (at byte offset {offset}); "
                    "save the file as UTF-8 (in Excel: 'CSV UTF-8') and import it again. Nothing was imported."
                ) from None
            if not chunk:
                break
            lines += chunk.count(b"\n")
            if not has_nul and b"\x00" in chunk:
                has_nul = True
            size += len(chunk)
    head = first.removeprefix(codecs.BOM_UTF8).split(b"\n", 1)[0].decode("utf-8", "ignore")
    if not first.removeprefix(codecs.BOM_UTF8).strip():
        raise CsvImportError(f"{path}: the file is empty; expected a header line ({','.join(FIELDS)}) and rows")
    delimiter = ","
    if "," not in head:
        if ";" in head:
            delimiter = ";"
        elif "\t" in head:
            delimiter = "\t"
    return _Scan(size=size, has_nul=has_nul, delimiter=delimiter)


def _bulk_table(dialect: str) -> Table:
    """survey_response as the bulk insert binds it: values arrive already in their stored form, so no
    per-value type processing runs (SQLite: datetimes as naive-UTC text, `raw` as JSON text)."""
    md = MetaData()
    cols = []
    for c in SurveyResponse.__table__.columns:  # type: ignore[attr-defined]
        t: Any = Integer() if isinstance(c.type, Integer) else String()
        if isinstance(c.type, UTCDateTime):
            t = String() if dialect == "sqlite" else DateTime(timezone=False)
        elif isinstance(c.type, JSON):
            t = String() if dialect == "sqlite" else JSON(none_as_null=True)
        cols.append(Column(c.name, t, primary_key=c.primary_key))
    return Table(SurveyResponse.__tablename__, md, *cols)


def sqlite_datetime_text(dt: datetime, text: str = "") -> str:
    """What UTCDateTime and SQLite's DATETIME store for the aware instant `dt` (naive UTC, microseconds).

    `text` is the cell `dt` was parsed from: in the usual export shape, 2026-11-20T10:15:00Z, the
    stored text is cut from it directly, which is several times cheaper than formatting `dt`.
    """
    if (len(text) == 20 and text[19] == "Z" and text[4] == "-" and text[7] == "-" and text[13] == ":"
            and text[16] == ":"):
        return f"{text[:10]} {text[11:19]}.000000"
    return dt.astimezone(_UTC).isoformat(" ", "microseconds")[:26]


COLUMNS = ("source", "external_id", "survey", "score", "comment", "customer_id", "customer_name", "customer_email",
           "touchpoint", "team", "responded_at", "received_at", "raw")
"""The survey_response columns a batch row gives, in the order of its tuple."""


class _Store:
    """How a batch of rows (tuples in COLUMNS order) goes into survey_response, once each."""

    enc_dt: Callable[..., Any]
    enc_raw: Callable[[Any], Any]

    def insert(self, conn: Any, rows: list[tuple[Any, ...]], want: list[str]) -> tuple[int, dict[str, int]]:
        """Insert what is not there yet: (rows inserted, {external id: id} of those of `want` inserted)."""
        raise NotImplementedError


class _SqliteStore(_Store):
    """The Core statement, compiled once, run by the driver's executemany (SQLAlchemy's per-row parameter
    handling would cost more than SQLite's insert itself). The batch's transaction began with BEGIN
    IMMEDIATE, so no one else writes until it ends: the ids above the largest id before the insert are
    exactly the rows it inserted (an INTEGER PRIMARY KEY counts up from the largest), and rowcount is
    how many."""

    def __init__(self, engine: Engine):
        from sqlalchemy.dialects.sqlite import insert

        table = _bulk_table("sqlite")
        compiled = (insert(table).on_conflict_do_nothing(index_elements=["source", "external_id"])
                    .compile(dialect=engine.dialect, column_keys=list(COLUMNS)))
        order = tuple(compiled.positiontup or ())
        assert order == COLUMNS, order  # the tuples are built in this order
        self.sql = str(compiled)
        self.enc_dt = sqlite_datetime_text

    @staticmethod
    def enc_raw(raw: Any) -> Any:
        return None if raw is None else json.dumps(raw)

    def insert(self, conn: Any, rows: list[tuple[Any, ...]], want: list[str]) -> tuple[int, dict[str, int]]:
        r = SurveyResponse.__table__.c  # type: ignore[attr-defined]
        before = conn.execute(select(func.max(r.id))).scalar() or 0
        n = conn.exec_driver_sql(self.sql, rows).rowcount
        found: dict[str, int] = {}
        for i in range(0, len(want), 500):
            q = select(r.external_id, r.id).where(r.id > before, r.source == SOURCE,
                                                  r.external_id.in_(want[i:i + 500]))
            found.update((ext, rid) for ext, rid in conn.execute(q))
        return n, found


class _PostgresStore(_Store):
    """The Core statement with `RETURNING id, external_id`, compiled once, run by psycopg's pipelined
    executemany(returning=True): the ids returned name the rows inserted even with other writers at
    work. (SQLAlchemy's insertmanyvalues would send one huge statement per page, which psycopg
    re-parses in Python every time: five times slower.)"""

    def __init__(self, engine: Engine):
        from sqlalchemy.dialects.postgresql import insert

        table = _bulk_table("postgresql")
        stmt = (insert(table).on_conflict_do_nothing(index_elements=["source", "external_id"])
                .returning(table.c.id, table.c.external_id))
        self.sql = str(stmt.compile(dialect=engine.dialect, column_keys=list(COLUMNS)))

    @staticmethod
    def enc_dt(dt: datetime, text: str = "") -> Any:
        return dt.replace(tzinfo=None)

    @staticmethod
    def enc_raw(raw: Any) -> Any:
        return None if raw is None else json.dumps(raw)

    def insert(self, conn: Any, rows: list[tuple[Any, ...]], want: list[str]) -> tuple[int, dict[str, int]]:
        import psycopg

        inserted: dict[str, int] = {}
        params = [dict(zip(COLUMNS, t)) for t in rows]
        try:
            with conn.connection.driver_connection.cursor() as cur:
                cur.executemany(self.sql, params, returning=True)
                while True:
                    inserted.update((ext, rid) for rid, ext in cur.fetchall())
                    if not cur.nextset():
                        break
        except psycopg.DataError as exc:
            raise DataError(self.sql, None, exc) from exc
        except psycopg.IntegrityError as exc:
            raise IntegrityError(self.sql, None, exc) from exc
        except psycopg.Error as exc:
            raise DBAPIError(self.sql, None, exc) from exc
        return len(inserted), {ext: inserted[ext] for ext in want if ext in inserted}


def _store(engine: Engine) -> _Store:
    name = engine.dialect.name
    if name == "sqlite":
        return _SqliteStore(engine)
    if name == "postgresql":
        return _PostgresStore(engine)
    raise CsvImportError(f"bulk import supports SQLite and PostgreSQL, not {name}")


def _recent_cutoff(ws: Workspace, team: str, now: datetime) -> datetime:
    """The earliest responded_at still inside the team's resolve_within SLA before `now`."""
    sla = ws.sla_for(team)
    if not sla.business_hours:
        return now - sla.resolve_within

    def due(t: datetime) -> datetime:
        return due_times(t, sla, ws.zone, ws.business_hours)[1]

    # due() never decreases as t grows: find the first t with due(t) >= now, to the microsecond.
    hi = now
    step = max(sla.resolve_within, timedelta(days=1))
    lo = now - step
    while due(lo) >= now:
        step *= 2
        lo = now - step
    us = timedelta(microseconds=1)
    while hi - lo > us:
        mid = lo + (hi - lo) // 2
        if due(mid) >= now:
            hi = mid
        else:
            lo = mid
    return hi


# --- the import ------------------------------------------------------------------------------------


def import_csv(engine: Engine, ws: Workspace, path: str | Path, *, mapping: dict[str, str] | None = None,
               open_cases: OpenCases = "recent", now: datetime | None = None,
               progress: Callable[[int], None] | None = None, batch_rows: int = BATCH_ROWS,
               max_errors: int = MAX_ERRORS) -> ImportReport:
    """Import a CSV file of survey responses; see the module docstring.

    `open_cases`: "all" opens a case for every detractor imported; "recent" only for those whose
    responded_at is within their team's resolve_within SLA before `now` (older ones are history:
    stored and scored, no alert); "none" never. `progress` is called with the bytes of the file read
    so far, after every batch. Raises CsvImportError (nothing stored) when the file cannot be read or
    the columns cannot be mapped; ImportInterrupted when the database fails part-way.
    """
    if open_cases not in OPEN_CASES:
        raise ValueError(f"open_cases must be one of {', '.join(OPEN_CASES)}, not {open_cases!r}")
    fields = check_mapping(mapping)
    path = Path(path)
    now = now or utcnow()
    now = now.replace(tzinfo=_UTC) if now.tzinfo is None else now.astimezone(_UTC)
    scan = _scan(path)
    store = _store(engine)
    report = ImportReport(path=str(path))

    with path.open("rb") as fb:
        text = io.TextIOWrapper(fb, encoding="utf-8-sig", newline="")
        reader = csv.reader(text, delimiter=scan.delimiter, strict=True)
        header: list[str] | None = None
        try:
            for row in reader:
                if row and any(c.strip() for c in row):
                    header = row
                    break
        except (csv.Error, UnicodeDecodeError) as exc:
            raise CsvImportError(f"{path}: the header (line {reader.line_num}) cannot be read: {exc}") from None
        if header is None:
            raise CsvImportError(f"{path}: the file is empty; expected a header line ({','.join(FIELDS)}) and rows")
        plan = plan_columns(header, fields)
        report.extra_columns = [n for _, n in plan.extras]
        _Run(engine, ws, report, plan, store, open_cases, now, batch_rows, max_errors,
             scan.has_nul).go(reader, lambda: progress(fb.tell()) if progress else None)
    if progress:
        progress(scan.size)
    return report


class _Run:
    """One import's hot loop and batches."""

    def __init__(self, engine: Engine, ws: Workspace, report: ImportReport, plan: ColumnPlan, store: _Store,
                 open_cases: str, now: datetime,
                 batch_rows: int, max_errors: int, has_nul: bool):
        self.engine, self.ws, self.report, self.plan = engine, ws, report, plan
        self.store = store
        self.open_cases, self.now = open_cases, now
        self.batch_rows, self.max_errors, self.has_nul = max(1, batch_rows), max_errors, has_nul
        self.thresholds = {k.value: ws.thresholds.for_kind(k) for k in SCORE_RANGE}
        self.cutoffs: dict[str, datetime] = {}
        self.received = store.enc_dt(now, "")
        self.routes: dict[str | None, str] = {}

    def cutoff(self, team: str) -> datetime:
        c = self.cutoffs.get(team)
        if c is None:
            c = self.cutoffs[team] = _recent_cutoff(self.ws, team, self.now)
        return c

    def go(self, reader: Any, tick: Callable[[], None]) -> None:
        report, plan = self.report, self.plan
        width = plan.width
        absent = width  # optional fields with no column read a "" appended to the row
        ix = [plan.index.get(f, absent) for f in FIELDS]
        i_id, i_sv, i_sc, i_cm, i_ci, i_cn, i_ce, i_tp, i_at = ix
        pad = any(i == absent for i in ix)
        extras = plan.extras
        labels = plan.labels
        has_nul = self.has_nul
        thresholds = self.thresholds
        routes = self.routes
        route = self.ws.route
        enc_dt, enc_raw, received = self.store.enc_dt, self.store.enc_raw, self.received
        mode = self.open_cases
        cutoff = self.cutoff
        now, latest = self.now, latest_accepted(self.now)
        max_errors = self.max_errors
        batch_rows = self.batch_rows

        batch: list[tuple[Any, ...]] = []
        lines: list[int] = []
        in_batch: set[str] = set()
        candidates: list[str] = []
        prev = reader.line_num
        it = iter(reader)
        while True:
            try:
                for row in it:
                    line = prev + 1
                    prev = reader.line_num
                    if len(row) != width:
                        if not row or not any(c.strip() for c in row):
                            continue  # a blank line
                        if len(row) > width and not any(c.strip() for c in row[width:]):
                            row = row[:width]  # trailing empty cells, as spreadsheets write them
                        else:
                            report._reject(line, f"has {len(row)} column{'s' if len(row) != 1 else ''}; "
                                                 f"the header has {width}", max_errors)
                            continue
                    if has_nul and any("\x00" in c for c in row):
                        report._reject(line, "contains a NUL character (\\0), which cannot be stored", max_errors)
                        continue
                    if pad:
                        row.append("")
                    # prepare_cells, inlined:
                    cells = (row[i_id].strip(), row[i_sv].strip().lower(), row[i_sc].strip(), row[i_cm].strip(),
                             row[i_ci].strip(), row[i_cn].strip(), row[i_ce].strip(), row[i_tp].strip(),
                             row[i_at].strip())
                    v = fast_values(*cells, latest=latest)
                    if v is None:
                        try:
                            v = slow_values(cells, labels, now=now)
                        except InvalidResponse as exc:
                            if not any(c.strip() for c in row):
                                continue  # a row of empty cells (",,,,"), as spreadsheets write them
                            report._reject(line, "; ".join(f"{p.field}: {p.problem}" for p in exc.problems),
                                           max_errors)
                            continue
                    ext = v[0]
                    if ext in in_batch:
                        report.duplicate += 1
                        continue
                    in_batch.add(ext)
                    tp = v[7]
                    team = routes.get(tp)
                    if team is None:
                        team = routes[tp] = route(tp)
                    raw = None
                    if extras:
                        raw = {n: c for i, n in extras if (c := row[i].strip())} or None
                    batch.append((SOURCE, ext, v[1], v[2], v[3], v[4], v[5], v[6], tp, team, enc_dt(v[8], cells[8]),
                                  received, enc_raw(raw)))
                    lines.append(line)
                    if v[2] <= thresholds[v[1]] and mode != "none" and (mode == "all" or v[8] >= cutoff(team)):
                        candidates.append(ext)
                    if len(batch) >= batch_rows:
                        self.flush(batch, lines, candidates)
                        batch, lines, candidates = [], [], []
                        in_batch = set()
                        tick()
                break
            except csv.Error as exc:
                line = prev + 1
                prev = reader.line_num
                hint = (" (is a quote left open?)" if any(w in str(exc) for w in ("field larger", "end of data", "EOF"))
                        else "")
                report._reject(line, f"cannot be read as CSV: {exc}{hint}", max_errors)
        if batch:
            self.flush(batch, lines, candidates)
            tick()

    def flush(self, batch: list[tuple[Any, ...]], lines: list[int], candidates: list[str]) -> None:
        """Store one batch and open its cases in one transaction."""
        try:
            try:
                with session_scope(self.engine) as session:
                    n, ids = self.store.insert(session.connection(), batch, candidates)
                    self.open(session, ids, candidates)
                self.report.imported += n
                self.report.duplicate += len(batch) - n
            except (DataError, IntegrityError):
                # A value the database refuses (e.g. too long for its column once lower-cased): find the
                # rows, reject them by line, and store the rest.
                self.flush_one_by_one(batch, lines, candidates)
        except SQLAlchemyError as exc:
            raise ImportInterrupted(f"the database failed while storing the rows from line {lines[0]}: {exc}; "
                                    f"the rows before line {lines[0]} are stored (importing the file again "
                                    "skips them as duplicates)", self.report, lines[0]) from exc

    def flush_one_by_one(self, batch: list[tuple[Any, ...]], lines: list[int], candidates: list[str]) -> None:
        want = set(candidates)
        ids: dict[str, int] = {}
        imported = 0
        bad: list[tuple[int, str]] = []
        with session_scope(self.engine) as session:
            conn = session.connection()
            for params, line in zip(batch, lines):
                ext = params[1]
                try:
                    with conn.begin_nested():
                        n, found = self.store.insert(conn, [params], [ext] if ext in want else [])
                    imported += n
                    ids.update(found)
                except (DataError, IntegrityError) as exc:
                    orig = getattr(exc, "orig", exc)
                    bad.append((line, f"the database refused the row: {str(orig).strip().splitlines()[0]}"))
            self.open(session, ids, candidates)
        self.report.imported += imported
        self.report.duplicate += len(batch) - imported - len(bad)
        for line, reason in bad:
            self.report._reject(line, reason, self.max_errors)

    def open(self, session: Any, inserted: dict[str, int], candidates: list[str]) -> None:
        # `inserted`: the ids of the candidates that this batch inserted (the rest were duplicates).
        """Open and queue a case for each newly inserted detractor that is due one, in file order."""
        ids = [inserted[ext] for ext in candidates if ext in inserted]
        if not ids:
            return
        loaded: dict[int, SurveyResponse] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            for r in session.scalars(select(SurveyResponse).where(SurveyResponse.id.in_(chunk))):  # type: ignore[attr-defined]
                loaded[r.id] = r
        for rid in ids:
            case = open_case(session, self.ws, loaded[rid], now=self.now)
            publish_opened(session, self.ws, case)
        self.report.cases_opened += len(ids)


def iter_errors(report: ImportReport) -> Iterable[str]:
    """The report's bad rows as lines of text."""
    for e in report.errors:
        yield f"line {e.line}: {e.reason}"
    if report.errors_not_listed:
        yield f"... and {report.errors_not_listed} more rejected rows not listed"
