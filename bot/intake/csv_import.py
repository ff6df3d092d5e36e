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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Engine, select
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlmodel import Session

from bot.cases.service import open_case
from bot.config import Workspace
from bot.cases.notify import publish_opened
from bot.intake.surveys import (
    SCORE_RANGE,
    InvalidResponse,
    latest_accepted,
)
from storage.db import session_scope
from storage.models import SurveyResponse
from storage.types import utcnow
from bot.intake.csv_rows import CsvImportError, ColumnPlan, FIELDS, OPEN_CASES, OpenCases, SOURCE, check_mapping, fast_values, plan_columns, slow_values
from bot.intake.csv_store import RowStore, recent_cutoff, row_store


BATCH_ROWS = 5000
"""Rows per transaction: big enough that commits cost nothing, small enough to hold the write lock briefly."""
MAX_ERRORS = 10_000
"""Bad rows listed in the report (all are counted); a file of a million bad rows is reported by count."""


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
    now = now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)
    scan = _scan(path)
    store = row_store(engine)
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

    def __init__(self, engine: Engine, ws: Workspace, report: ImportReport, plan: ColumnPlan, store: RowStore,
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
            c = self.cutoffs[team] = recent_cutoff(self.ws, team, self.now)
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

    def without_erased(self, batch: list[tuple[Any, ...]], lines: list[int],
                       candidates: list[str]) -> tuple[list[tuple[Any, ...]], list[int], list[str]]:
        """The batch less the rows of customers erased on request (rejected, with the reason)."""
        from bot.privacy import guard

        with Session(self.engine) as session:
            gone = guard.refused_rows(session, SOURCE, batch, self.decode_at)
        if not gone:
            return batch, lines, candidates
        exts = {batch[i][1] for i in gone}
        for i in sorted(gone):
            self.report._reject(lines[i], guard.REASON, self.max_errors)
        keep = [i for i in range(len(batch)) if i not in gone]
        return [batch[i] for i in keep], [lines[i] for i in keep], [c for c in candidates if c not in exts]

    def decode_at(self, stored: Any) -> datetime:
        if isinstance(stored, datetime):
            return stored
        return datetime.fromisoformat(str(stored))

    def flush(self, batch: list[tuple[Any, ...]], lines: list[int], candidates: list[str]) -> None:
        """Store one batch and open its cases in one transaction."""
        batch, lines, candidates = self.without_erased(batch, lines, candidates)
        if not batch:
            return
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
