"""Engine, sessions and migrations.

Cheap to import (SQLAlchemy Core only): SQLModel, the ORM and Alembic are loaded where they are used,
so that a quick command such as `cxloop scores` starts without them (bench/bench_cli_start.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.engine import make_url

from storage.location import default_url  # noqa: F401  (re-exported; its home is storage/location.py)
from storage.revision import head_revision

if TYPE_CHECKING:
    from sqlmodel import Session

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str | None = None, *, echo: bool = False) -> Engine:
    """An engine for `url`; SQLite gets WAL mode, a busy timeout and enforced foreign keys."""
    url = url or default_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=30000")
            # WAL is a property of the file, kept once set: switch only a file not in WAL yet. Asking
            # again on every new connection took the mode-change path each time, and once (ten
            # connections opened at once, the machine loaded) it failed with "database is locked".
            if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn) -> None:  # type: ignore[no-untyped-def]
            # Writers take the write lock up front so two of them queue (busy timeout) instead of
            # failing when a read lock cannot be upgraded; readers never block anyone in WAL mode.
            if conn.get_execution_options().get("cx_write"):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

        # pysqlite's own transaction handling must be off for BEGIN IMMEDIATE to take effect.
        @event.listens_for(engine, "connect")
        def _no_pysqlite_autobegin(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None

        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)


class CommitWatch:
    """Whether anything may have been committed to a SQLite file since the last look: `PRAGMA
    data_version` on a connection of its own changes whenever another connection commits, in this
    process or any other. An idle poll that sees no change skips its queries; every `every` seconds
    it answers yes anyway, for work that comes due by time (a retry's back-off) and not by a commit.
    Microseconds per look, against a query's milliseconds."""

    def __init__(self, path: str, every: float = 1.0):
        import sqlite3

        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.every = every
        self._version: int | None = None
        self._looked = float("-inf")

    @classmethod
    def of(cls, engine: Engine, every: float = 1.0) -> "CommitWatch | None":
        """A watch on `engine`'s SQLite file; None for PostgreSQL (its workers are woken by
        LISTEN/NOTIFY) and for an in-memory database."""
        if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
            return None
        return cls(engine.url.database, every)  # type: ignore[arg-type]

    def changed(self) -> bool:
        import time

        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        now = time.monotonic()  # an interval between polls, not a date: not the domain clock
        if version != self._version or now - self._looked >= self.every:
            self._version, self._looked = version, now
            return True
        return False

    def close(self) -> None:
        self._conn.close()


def count_if(cond: Any) -> Any:
    """SQL counting the rows where `cond` holds (0, not NULL, when there are none)."""
    from sqlalchemy import case, func

    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def dialect_of(bind: Session | Connection) -> str:
    """The database dialect's name ("sqlite", "postgresql") of a session or a connection."""
    return bind.dialect.name if isinstance(bind, Connection) else bind.get_bind().dialect.name


def insert_missing(session: Session | Connection, table: Table, rows: list[dict[str, Any]], *, unique: list[str],
                   returning: list[str] | None = None) -> list[tuple[Any, ...]]:
    """Insert the rows whose `unique` columns are not taken yet (`INSERT … ON CONFLICT DO NOTHING`, on
    both databases); rows already there, or inserted first by a concurrent writer, are left as they
    are. With `returning`, return those columns of the rows this call inserted."""
    if not rows:
        return []
    dialect = dialect_of(session)
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table).on_conflict_do_nothing(index_elements=unique)
    if returning is None:
        # An executemany of one cached statement: psycopg pipelines it with the statement prepared
        # once, far cheaper than a statement with thousands of placeholders.
        session.execute(stmt, rows)
        return []
    # SQLAlchemy batches this into multi-row VALUES ("insertmanyvalues"), still compiled once.
    return [tuple(r) for r in session.execute(stmt.returning(*(table.c[c] for c in returning)), rows)]


def writing(engine: Engine) -> Any:
    """A write transaction on a plain connection (`with writing(engine) as conn:`), for Core
    statements on hot paths: SQLite takes its write lock up front (BEGIN IMMEDIATE), no ORM session."""
    return engine.execution_options(cx_write=True).begin()


@contextmanager
def session_scope(engine: Engine, *, write: bool = True) -> Iterator[Session]:
    """A writing session that commits on success and rolls back on error. With `write=False` (see
    `reading_scope`), SQLite begins without taking the write lock."""
    from sqlmodel import Session

    with Session(engine.execution_options(cx_write=True) if write else engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def reading_scope(engine: Engine) -> AbstractContextManager[Session]:
    """A session for work that reads: on SQLite it begins without the write lock (BEGIN, not BEGIN
    IMMEDIATE), so it neither waits for a writer nor holds one up. It commits on success, so a write
    it makes after all is kept; SQLite refuses that write if another writer committed since this
    one began reading (`lost_to_a_writer`), and the work must then run again as a writer
    (bot/machinery/runtime.py `Runtime.reading`). On PostgreSQL it is the same as `session_scope`."""
    return session_scope(engine, write=False)


SQLITE_BUSY = 5  # the primary result code; SQLITE_BUSY_SNAPSHOT (517) is one of its extended codes


def lost_to_a_writer(exc: BaseException) -> bool:
    """Whether SQLite refused a write because another connection holds, or has just used, the write lock."""
    code = getattr(getattr(exc, "orig", None), "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF == SQLITE_BUSY


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None) -> None:
    """Apply every migration up to head."""
    from alembic import command

    url = url or default_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), "head")


def at_head(engine: Engine) -> bool:
    """Whether the database's `alembic_version` is exactly the migrations' head: one small query."""
    head = head_revision()
    if head is None:
        return False
    try:
        with engine.connect() as conn:
            versions = [v for (v,) in conn.execute(text("SELECT version_num FROM alembic_version"))]
    except Exception:  # no table yet, or no database: Alembic will say what is wrong, or create it
        return False
    return versions == [head]


def ping(engine: Engine) -> bool:
    """Whether the database answers."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
