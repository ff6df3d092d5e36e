"""Which migration is the newest, and whether a database has it, without loading Alembic or SQLAlchemy.

Every command migrates the database first; when it is already at head (nearly always) that must cost
one small query, not Alembic's machinery (which imports every migration, and SQLModel with them). For a
SQLite file, `sqlite_at_head` even answers through the standard library, so `cxloop scores` can read it
without importing SQLAlchemy at all (bench/bench_cli_start.py).
"""

from __future__ import annotations

import ast
import re
import sqlite3
from pathlib import Path
from urllib.parse import unquote

VERSIONS = Path(__file__).parent / "migrations" / "versions"

_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)


def head_revision(versions: Path = VERSIONS) -> str | None:
    """The one head of the migration files, read from their `revision` / `down_revision` lines without
    importing them. None when that cannot be decided for certain (a file it cannot read, several heads,
    no files): the caller then asks Alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        if path.name.startswith("__"):
            continue
        try:
            found = dict((name, ast.literal_eval(value))
                         for name, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, SyntaxError):
            return None
        rev, down = found.get("revision"), found.get("down_revision", ())
        if not isinstance(rev, str):
            return None
        revisions.add(rev)
        for parent in (down,) if isinstance(down, str) else (down or ()):
            if not isinstance(parent, str):
                return None
            parents.add(parent)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def sqlite_file(url: str) -> Path | None:
    """The file of a plain SQLite URL (`sqlite:///cxloop.db`, `sqlite:////abs/x.db`); None for any other
    URL, including SQLite ones with options, in memory, or through another driver."""
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if url.startswith(prefix):
            rest = url[len(prefix):]
            if not rest or rest == ":memory:" or "?" in rest:
                return None
            return Path(unquote(rest))
    return None


def sqlite_at_head(url: str) -> sqlite3.Connection | None:
    """A sqlite3 connection to the database at `url` if it is a plain SQLite file that exists and is at
    head; None otherwise (the caller then goes the usual way: SQLAlchemy, and Alembic if behind).

    Opened `mode=rw`, which never creates a file; not `ro`, because a read-only connection to a WAL
    database leaves its -wal and -shm files behind when it closes.
    """
    path = sqlite_file(url)
    head = head_revision()
    if path is None or head is None or not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=30)
    except sqlite3.Error:
        return None
    try:
        versions = [v for (v,) in conn.execute("SELECT version_num FROM alembic_version")]
    except sqlite3.Error:
        conn.close()
        return None
    if versions != [head]:
        conn.close()
        return None
    return conn
