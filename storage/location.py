"""Where the database is: `DATABASE_URL`, else a SQLite file in the working directory.

Standard library only: the quick commands read it before (or without) loading SQLAlchemy.
"""

from __future__ import annotations

import os

DEFAULT_DATABASE_URL = "sqlite:///cxloop.db"


def default_url() -> str:
    """`DATABASE_URL`, else a SQLite file in the working directory."""
    return os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
