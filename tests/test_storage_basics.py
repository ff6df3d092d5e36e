"""The storage layer and the test harness itself, on whichever backend the suite runs."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, select

from storage.db import alembic_config, is_postgres, session_scope, upgrade
from storage.models import SurveyResponse


def _response(external_id: str = "r-1042", *, source: str = "generic", **fields: object) -> SurveyResponse:
    values: dict[str, object] = {
        "source": source,
        "external_id": external_id,
        "survey": "nps",
        "score": 3,
        "comment": "Waited 40 minutes on hold.",
        "touchpoint": "phone",
        "responded_at": datetime(2026, 11, 20, 10, 15, tzinfo=timezone.utc),
    }
    values.update(fields)
    return SurveyResponse(**values)


def _head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def _current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_migrations_reach_head_and_create_every_model_table(engine: Engine, db_url: str) -> None:
    assert _current_revision(engine) == _head_revision(db_url)
    tables = set(inspect(engine).get_table_names())
    missing = {t.name for t in SQLModel.metadata.sorted_tables} - tables
    assert not missing, f"tables in storage.models that no migration creates: {sorted(missing)}"


def test_migrations_are_idempotent(engine: Engine, db_url: str) -> None:
    with session_scope(engine) as session:
        session.add(_response())
    engine.dispose()  # SQLite: let the migration take the write lock

    upgrade(db_url)
    upgrade(db_url)

    assert _current_revision(engine) == _head_revision(db_url)
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(SurveyResponse)).one() == 1


def test_models_match_migrations(engine: Engine) -> None:
    """A change to storage.models without a migration shows up here."""
    from alembic.autogenerate import compare_metadata

    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == [], "storage.models and the migrations differ; add a migration:\n" + "\n".join(map(str, diff))


def test_response_source_and_external_id_are_unique(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.add(_response("r-1"))
        session.add(_response("r-1", source="typeform"))  # same id, other tool: allowed

    with pytest.raises(IntegrityError):
        with session_scope(engine) as session:
            session.add(_response("r-1", score=9))

    with session_scope(engine) as session:
        rows = session.exec(select(SurveyResponse.source, SurveyResponse.score).order_by(SurveyResponse.source)).all()
    assert [tuple(r) for r in rows] == [("generic", 3), ("typeform", 3)]


def test_datetimes_round_trip_as_aware_utc(engine: Engine) -> None:
    kolkata = timezone(timedelta(hours=5, minutes=30))
    given = datetime(2026, 11, 20, 15, 45, 30, 123456, tzinfo=kolkata)
    with session_scope(engine) as session:
        session.add(_response(responded_at=given))

    with session_scope(engine) as session:
        stored = session.exec(select(SurveyResponse)).one()
    assert stored.responded_at == given
    assert stored.responded_at.utcoffset() == timedelta(0)
    assert stored.responded_at == datetime(2026, 11, 20, 10, 15, 30, 123456, tzinfo=timezone.utc)
    assert stored.received_at.tzinfo is not None and stored.received_at.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(engine: Engine) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        with session_scope(engine) as session:
            session.add(_response(responded_at=datetime(2026, 11, 20, 10, 15)))


def test_instants_order_correctly_in_sql(engine: Engine) -> None:
    # 09:00 in New York is later than 12:00 in London on the same day.
    new_york = timezone(timedelta(hours=-5))
    with session_scope(engine) as session:
        session.add(_response("london", responded_at=datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)))
        session.add(_response("new-york", responded_at=datetime(2026, 11, 20, 9, 0, tzinfo=new_york)))
    with session_scope(engine) as session:
        order = session.exec(select(SurveyResponse.external_id).order_by(SurveyResponse.responded_at)).all()
    assert list(order) == ["london", "new-york"]


@pytest.mark.sqlite_only
def test_sqlite_runs_in_wal_mode_with_foreign_keys(engine: Engine, db_url: str) -> None:
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    # WAL is a property of the file: a plain sqlite3 connection sees it too.
    raw = sqlite3.connect(make_url(db_url).database or "")
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        raw.close()


@pytest.mark.postgres_only
def test_postgres_backend_is_in_use(engine: Engine) -> None:
    assert is_postgres(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SHOW TIMEZONE")).scalar() is not None


@pytest.mark.parametrize("turn", [1, 2])
def test_each_test_starts_with_an_empty_database(engine: Engine, turn: int) -> None:
    """Whichever turn runs second proves the first one's row is gone and ids start again at 1."""
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(SurveyResponse)).one() == 0
        row = _response(f"turn-{turn}")
        session.add(row)
        session.flush()
        assert row.id == 1
