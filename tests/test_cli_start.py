"""Quick commands start light: which modules `cxloop --help` and `cxloop scores --json` load (the timings are
bench/bench_cli_start.py's), the cheap "already at head" check, and the settings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.settings import ConfigError, Settings, load_settings
from storage.db import at_head, head_revision, make_engine
from tests.conftest import cli_env

ROOT = Path(__file__).resolve().parents[1]

# Loaded only by the commands that use them.
CHAT_AND_MODELS = {"slack_bolt", "slack_sdk", "botbuilder", "openai", "matplotlib", "aiohttp", "apscheduler"}
HEAVY = CHAT_AND_MODELS | {"alembic", "rich", "sqlmodel", "pydantic", "pydantic_settings", "yaml"}
EMPTY_GROUP = {"key": "all", "nps": {"responses": 0, "promoters": 0, "passives": 0, "detractors": 0, "score": None},
               "csat": {"responses": 0, "satisfied": 0, "score": None}, "ces": {"responses": 0, "agree": 0, "score": None}}


def cxloop(db_url: str, *args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run `cxloop ARGS` as its own process, with -X importtime: its result and every module it imported."""
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "handlers.cli", *args], capture_output=True,
                         text=True, env=cli_env(DATABASE_URL=db_url), cwd=ROOT, timeout=120)
    modules = {line.rsplit("|", 1)[1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}
    return run, modules - {"package"}


def tops(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_help_builds_the_parser_from_the_standard_library_alone(tmp_path):
    run, modules = cxloop(f"sqlite:///{tmp_path / 'none.db'}", "--help")
    assert run.returncode == 0 and "scores" in run.stdout and "import" in run.stdout
    assert not tops(modules) & (HEAVY | {"sqlalchemy", "bot", "storage"}), sorted(tops(modules) & HEAVY)
    assert not (tmp_path / "none.db").exists()  # --help touches no database


def test_scores_json_on_a_database_at_head_loads_nothing_heavy(engine, db_url):
    run, modules = cxloop(db_url, "scores", "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    doc = json.loads(run.stdout)
    assert doc == {"since": None, "until": None, "by": None, "groups": [EMPTY_GROUP]}
    assert not tops(modules) & HEAVY, sorted(tops(modules) & HEAVY)
    assert "bot.reporting.scores" in modules
    if db_url.startswith("sqlite"):
        assert "sqlalchemy" not in tops(modules)  # a SQLite file at head is read through sqlite3
    else:
        assert "sqlalchemy.orm" not in modules  # SQLAlchemy Core runs the same query


def test_scores_reads_the_workspace_only_when_a_date_needs_its_time_zone(engine, db_url):
    run, modules = cxloop(db_url, "scores", "--json", "--since", "2026-11-01", "--until", "2026-11-08T00:00:00Z")
    assert run.returncode == 0, run.stderr[-2000:]
    # Midnight in Europe/London (the bundled workspace), which is UTC in November.
    assert json.loads(run.stdout)["since"] == "2026-11-01T00:00:00Z"
    assert "bot.config" in modules and not tops(modules) & CHAT_AND_MODELS


@pytest.mark.sqlite_only
def test_scores_on_a_new_database_migrates_it_first_and_then_starts_without_alembic(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    run, modules = cxloop(url, "scores", "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout)["groups"] == [EMPTY_GROUP]
    assert "alembic" in tops(modules)
    engine = make_engine(url)
    try:
        assert at_head(engine)
    finally:
        engine.dispose()
    run, modules = cxloop(url, "scores", "--json")
    assert run.returncode == 0 and not tops(modules) & {"alembic", "sqlalchemy"}


@pytest.mark.sqlite_only
def test_a_database_one_migration_behind_is_brought_to_head(tmp_path):
    from alembic import command

    from storage.db import alembic_config

    url = f"sqlite:///{tmp_path / 'behind.db'}"
    head = head_revision()
    assert head is not None
    from alembic.script import ScriptDirectory

    previous = ScriptDirectory.from_config(alembic_config(url)).get_revision(head).down_revision
    command.upgrade(alembic_config(url), previous)
    engine = make_engine(url)
    try:
        assert not at_head(engine)
        run, modules = cxloop(url, "scores", "--json")
        assert run.returncode == 0, run.stderr[-2000:]
        assert "alembic" in tops(modules) and at_head(engine)
    finally:
        engine.dispose()


def test_the_head_read_from_the_files_is_alembics_head(db_url):
    from alembic.script import ScriptDirectory

    from storage.db import alembic_config

    assert head_revision() == ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()


def test_at_head_compares_the_databases_version_with_the_head(engine):
    assert at_head(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'elsewhere'"))
    try:
        assert not at_head(engine)
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head_revision()})


@pytest.mark.parametrize("url, path", [
    ("sqlite:///cxloop.db", "cxloop.db"), ("sqlite:////var/lib/cx/x.db", "/var/lib/cx/x.db"),
    ("sqlite+pysqlite:///a%20b.db", "a b.db"), ("sqlite://", None), ("sqlite:///:memory:", None),
    ("sqlite:///x.db?mode=ro", None), ("sqlite+aiosqlite:///x.db", None),
    ("postgresql+psycopg://cx:pw@db/cx", None)])
def test_only_plain_sqlite_files_take_the_sqlite3_path(url, path):
    from sqlalchemy.engine import make_url

    from storage.revision import sqlite_file

    assert sqlite_file(url) == (Path(path) if path else None)
    if path:
        assert make_url(url).database == path  # the file SQLAlchemy would open


def test_sqlite_at_head_never_creates_a_file(tmp_path):
    from storage.revision import sqlite_at_head

    assert sqlite_at_head(f"sqlite:///{tmp_path / 'absent.db'}") is None
    assert list(tmp_path.iterdir()) == []


def test_the_head_is_undecided_when_the_files_do_not_say_it_plainly(tmp_path):
    def write(name: str, body: str) -> None:
        (tmp_path / name).write_text(body, encoding="utf-8")

    write("a.py", "revision: str = 'a'\ndown_revision = None\n")
    write("b.py", "revision = 'b'\ndown_revision: Union[str, None] = 'a'\n")
    assert head_revision(tmp_path) == "b"
    write("c.py", "revision = 'c'\ndown_revision = 'a'\n")  # two heads: let Alembic decide (and say so)
    assert head_revision(tmp_path) is None
    write("m.py", "revision = 'm'\ndown_revision = ('b', 'c')\n")  # a merge makes one head again
    assert head_revision(tmp_path) == "m"
    write("x.py", "revision = make_id()\n")
    assert head_revision(tmp_path) is None


# --- the settings ------------------------------------------------------------------------------------------


def test_settings_come_from_the_environment_in_any_case_and_keywords_win(monkeypatch):
    for name, value in {"DATABASE_URL": "sqlite:///x.db", "teams_allow_no_auth": "yes",
                        "CXLOOP_CONFIG": "/etc/cx.yaml", "SLACK_BOT_TOKEN": "xoxb-1", "UNRELATED": "x"}.items():
        monkeypatch.setenv(name, value)
    s = Settings(slack_bot_token="xoxb-2")
    assert (s.database_url, s.teams_allow_no_auth, s.cxloop_config, s.slack_bot_token) == \
        ("sqlite:///x.db", True, Path("/etc/cx.yaml"), "xoxb-2")
    with pytest.raises(Exception, match="slack_token"):
        Settings(slack_token="xoxb")  # a misspelt setting in code is an error, never silently ignored


def test_a_setting_that_is_not_its_type_is_an_error_naming_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("TEAMS_ALLOW_NO_AUTH", "maybe")
    with pytest.raises(ConfigError, match="TEAMS_ALLOW_NO_AUTH='maybe'"):
        load_settings()
    run = subprocess.run([sys.executable, "-m", "handlers.cli", "run-due"], capture_output=True, text=True,
                         env=cli_env(DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}", TEAMS_ALLOW_NO_AUTH="maybe"),
                         cwd=ROOT, timeout=120)
    assert run.returncode == 2 and "TEAMS_ALLOW_NO_AUTH='maybe'" in run.stderr
    assert "Traceback" not in run.stderr
