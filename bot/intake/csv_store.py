"""Storing the CSV import's rows in batches: one Core `INSERT ... ON CONFLICT DO NOTHING` per batch, and
which rows it inserted (PostgreSQL: RETURNING; SQLite: the driver's executemany under the batch's
write lock), so only new detractors open cases."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Engine, Integer, MetaData, String, Table, func, select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from bot.config import Workspace
from bot.cases.sla import due_times
from storage.models import SurveyResponse
from storage.types import UTCDateTime
from bot.intake.csv_rows import SOURCE, CsvImportError


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
    return dt.astimezone(timezone.utc).isoformat(" ", "microseconds")[:26]


COLUMNS = ("source", "external_id", "survey", "score", "comment", "customer_id", "customer_name", "customer_email",
           "touchpoint", "team", "responded_at", "received_at", "raw")
"""The survey_response columns a batch row gives, in the order of its tuple."""


class RowStore:
    """How a batch of rows (tuples in COLUMNS order) goes into survey_response, once each."""

    enc_dt: Callable[..., Any]
    enc_raw: Callable[[Any], Any]

    def insert(self, conn: Any, rows: list[tuple[Any, ...]], want: list[str]) -> tuple[int, dict[str, int]]:
        """Insert what is not there yet: (rows inserted, {external id: id} of those of `want` inserted)."""
        raise NotImplementedError


class _SqliteStore(RowStore):
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


class _PostgresStore(RowStore):
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


def row_store(engine: Engine) -> RowStore:
    name = engine.dialect.name
    if name == "sqlite":
        return _SqliteStore(engine)
    if name == "postgresql":
        return _PostgresStore(engine)
    raise CsvImportError(f"bulk import supports SQLite and PostgreSQL, not {name}")


def recent_cutoff(ws: Workspace, team: str, now: datetime) -> datetime:
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
