"""Shared fixtures. Each concern has its own section; add new ones below the database section."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

# ---------------------------------------------------------------------------------------------
# Database
#
# The suite runs on SQLite by default and on PostgreSQL when CXLOOP_TEST_DATABASE_URL names one
# (`make test` runs both; `scripts/postgres.sh start` makes a throwaway cluster). Migrations are
# applied once per session with `storage.db.upgrade`, so they are exercised on both backends.
# Every test that asks for `engine` or `db_url` gets an empty, migrated database:
#   - SQLite: a copy of a migrated template file (copying is far cheaper than migrating);
#   - PostgreSQL: the session database with every table emptied and every id sequence restarted.
# Markers: `postgres_only` and `sqlite_only` skip a test on the other backend.
# ---------------------------------------------------------------------------------------------

TEST_DATABASE_ENV = "CXLOOP_TEST_DATABASE_URL"

# ---------------------------------------------------------------------------------------------
# Time
#
# No test depends on today's date: every test starts with the process clock (storage/clock.py)
# fixed at TEST_NOW, a Wednesday afternoon, and anything a test does "now" happens then. A test
# that needs time to pass moves its own clock (tests/harness.py `Clock`). Subprocesses get the same
# instant through CXLOOP_NOW (see `cli_env`). `.ci/run` also runs the suite under faketime, 400 days
# ahead, so a test that reads the wall clock fails in CI rather than on a future date.
# ---------------------------------------------------------------------------------------------

TEST_NOW = datetime(2026, 11, 25, 14, 0, tzinfo=timezone.utc)


FAKETIME_SITE = Path(__file__).parent / "faketime_site"
# Under faketime, time.sleep is repaired in this process by importing the module, and in every
# subprocess by putting it on PYTHONPATH (see `cli_env`), where Python imports it at start-up.
import tests.faketime_site.sitecustomize as _faketime_fix  # noqa: E402,F401


class FixedClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, at: datetime):
        self.now = at

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(autouse=True)
def process_clock() -> Iterator[FixedClock]:
    from storage import clock

    fixed = FixedClock(TEST_NOW)
    previous = clock.install(fixed)
    yield fixed
    clock.install(previous)


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for a `cxloop` subprocess: this one, with the clock at the test's now."""
    from storage import clock

    env = {**os.environ, clock.ENV: clock.now().isoformat()}
    if _faketime_fix.under_faketime_with_real_monotonic():
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(FAKETIME_SITE), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def _test_database_url() -> str | None:
    return os.environ.get(TEST_DATABASE_ENV) or None


def _backend() -> str:
    url = _test_database_url()
    return make_url(url).get_backend_name() if url else "sqlite"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres_only: runs only when the suite runs on PostgreSQL")
    config.addinivalue_line("markers", "sqlite_only: runs only when the suite runs on SQLite")


def pytest_report_header(config: pytest.Config) -> str:
    url = _test_database_url()
    if url is None:
        return "cxloop database: sqlite (a fresh migrated file per test; set CXLOOP_TEST_DATABASE_URL for PostgreSQL)"
    shown = make_url(url).render_as_string(hide_password=True)
    return f"cxloop database: {_backend()} at {shown} (tables emptied before each test)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    backend = _backend()
    skip_pg = pytest.mark.skip(reason="postgres_only: the suite is running on SQLite")
    skip_sqlite = pytest.mark.skip(reason=f"sqlite_only: the suite is running on {backend}")
    for item in items:
        if backend != "postgresql" and item.get_closest_marker("postgres_only"):
            item.add_marker(skip_pg)
        if backend != "sqlite" and item.get_closest_marker("sqlite_only"):
            item.add_marker(skip_sqlite)


def _sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The session's database, migrated to head: a new SQLite file, or CXLOOP_TEST_DATABASE_URL.

    Tests should use `db_url` or `engine`, which are reset for every test; on SQLite this one is
    shared by the whole session.
    """
    from storage.db import upgrade

    url = _test_database_url()
    if url is None:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'session.db'}"
    else:
        name = make_url(url).database or ""
        if "test" not in name:
            # Every test truncates every table: refuse anything that does not look like a test database.
            pytest.exit(f"{TEST_DATABASE_ENV} must name a test database (its name must contain 'test'), got {name!r}",
                        returncode=4)
        _reset_postgres_schema(url)
    upgrade(url)
    return url


def _reset_postgres_schema(url: str) -> None:
    """Drop everything in the test database, so the session's migrations run from an empty schema."""
    from storage.db import make_engine

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """A pristine copy of the freshly migrated SQLite file, in rollback-journal mode so one file is the whole database."""
    if make_url(database_url).get_backend_name() != "sqlite":
        return None
    template = tmp_path_factory.mktemp("db-template") / "template.db"
    src = sqlite3.connect(_sqlite_path(database_url))
    dst = sqlite3.connect(template)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()
    return template


class _PostgresReset:
    """Empties every model table and restarts their ids, as `TRUNCATE ... RESTART IDENTITY CASCADE` would.

    TRUNCATE costs about 80 ms for our tables however little they hold; deleting the rows of small
    tables and rewinding only the sequences a test used costs about 5 ms, so that is the usual path.
    """

    def __init__(self, engine: Engine, tables: list[str]) -> None:
        quote = engine.dialect.identifier_preparer.quote
        self.engine = engine
        # Children before parents, so no foreign key is violated on the way.
        self.delete = ";\n".join(f"DELETE FROM {quote(name)}" for name in reversed(tables))
        self.rewind = (
            "SELECT setval((quote_ident(schemaname) || '.' || quote_ident(sequencename))::regclass, start_value, false)"
            " FROM pg_sequences WHERE schemaname = current_schema() AND last_value IS NOT NULL"
        )
        self.truncate = f"TRUNCATE TABLE {', '.join(quote(name) for name in tables)} RESTART IDENTITY CASCADE"

    def __call__(self) -> None:
        try:
            self._run(self.delete + ";\n" + self.rewind)
        except IntegrityError:
            # A table outside storage.models references one of ours: only TRUNCATE ... CASCADE empties both.
            self._run(self.truncate)

    def _run(self, sql: str) -> None:
        with self.engine.begin() as conn:
            # A connection an earlier test leaked could block this forever; fail loudly instead.
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))
            conn.exec_driver_sql(sql)


@pytest.fixture(scope="session")
def _postgres_reset(database_url: str) -> Iterator[_PostgresReset | None]:
    """What empties the PostgreSQL test database between tests, on one engine kept for the session."""
    if make_url(database_url).get_backend_name() != "postgresql":
        yield None
        return
    from sqlmodel import SQLModel

    import storage.models  # noqa: F401  (registers the tables)
    from storage.db import make_engine

    engine = make_engine(database_url)
    # Tables a migration has not created yet are left to test_storage_basics to report.
    existing = set(inspect(engine).get_table_names())
    tables = [t.name for t in SQLModel.metadata.sorted_tables if t.name in existing and t.name != "alembic_version"]
    yield _PostgresReset(engine, tables)
    engine.dispose()


@pytest.fixture
def db_url(
    database_url: str,
    _sqlite_template: Path | None,
    _postgres_reset: _PostgresReset | None,
    tmp_path: Path,
) -> str:
    """The URL of an empty, migrated database for this test (for subprocesses such as the `cxloop` CLI)."""
    if _sqlite_template is not None:
        path = tmp_path / "cxloop.db"
        shutil.copyfile(_sqlite_template, path)
        return f"sqlite:///{path}"
    assert _postgres_reset is not None
    _postgres_reset()
    return database_url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on this test's empty, migrated database; disposed after the test."""
    from storage.db import make_engine

    eng = make_engine(db_url)
    yield eng
    eng.dispose()
