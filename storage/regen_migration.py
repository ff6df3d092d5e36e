"""Developer tool: (re)write a migration from the models. `python -m storage.regen_migration REV MESSAGE`."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from storage.db import MIGRATIONS, alembic_config


def main() -> None:
    rev, message = sys.argv[1], " ".join(sys.argv[2:]) or "migration"
    for old in (MIGRATIONS / "versions").glob(f"{rev}_*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'regen.db'}"
        cfg = alembic_config(url)
        command.upgrade(cfg, "head")
        command.revision(cfg, message=message, autogenerate=True, rev_id=rev)


if __name__ == "__main__":
    main()
