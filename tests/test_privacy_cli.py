"""`cxloop privacy export|erase` from the command line, and the inventory of where customers' data lives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sqlmodel import SQLModel

from bot.intake.store import record_response
from bot.config import load_workspace
from bot.people.roster import sync_workspace
from bot.privacy.holdings import TABLES
from storage.db import session_scope
from tests.conftest import cli_env
from tests.privacy_seed import CUSTOMER_ID, EMAIL, KEY, NAME, dana_response, dump, found_in

ROOT = Path(__file__).resolve().parents[1]


def cxloop(db_url: str, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess:
    env = cli_env(DATABASE_URL=db_url, **({"CXLOOP_PRIVACY_KEY": key} if key else {}))
    if not key:
        env.pop("CXLOOP_PRIVACY_KEY", None)
    return subprocess.run([sys.executable, "-m", "handlers.cli", "privacy", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120, stdin=subprocess.DEVNULL)


def test_the_command_line_exports_then_erases_only_when_confirmed(engine, db_url):
    ws = load_workspace()
    with session_scope(engine) as s:
        sync_workspace(s, ws)
    record_response(engine, ws, dana_response())

    out = cxloop(db_url, "export", "--customer-id", CUSTOMER_ID)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["responses"][0]["customer_name"] == NAME and doc["cases"][0]["id"] == 1

    unconfirmed = cxloop(db_url, "erase", "--email", EMAIL)
    assert unconfirmed.returncode == 2 and "add --yes" in unconfirmed.stderr
    no_key = cxloop(db_url, "erase", "--email", EMAIL, "--yes", key=None)
    assert no_key.returncode == 2 and "CXLOOP_PRIVACY_KEY" in no_key.stderr
    bad = cxloop(db_url, "erase", "--email", "not-an-email", "--yes")
    assert bad.returncode == 2 and "is not an email address" in bad.stderr
    assert found_in(dump(engine)) != [], "nothing was erased yet"

    done = cxloop(db_url, "erase", "--email", EMAIL, "--yes")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["erased"] is True and result["counts"]["responses"] == 1
    assert found_in(dump(engine)) == []


def test_every_table_says_how_it_treats_customers_data():
    import storage.models  # noqa: F401  (every table registered)

    missing = sorted(set(SQLModel.metadata.tables) - set(TABLES))
    assert not missing, f"say in bot/privacy/holdings.py TABLES how these tables hold customers' data: {missing}"


def test_reimporting_the_same_csv_after_an_erasure_rejects_her_rows_and_keeps_the_rest(engine, tmp_path):
    from bot.intake.csv_import import import_csv
    from bot.privacy.erase import erase
    from bot.privacy.holdings import Subject
    from tests.privacy_seed import install_key

    install_key()
    ws = load_workspace()
    with session_scope(engine) as s:
        sync_workspace(s, ws)
    csv = tmp_path / "responses.csv"
    csv.write_text("id,survey,score,comment,customer_id,customer_name,customer_email,touchpoint,responded_at\n"
                   f"c-1,nps,2,Slow refund,,{NAME},,phone,2026-11-24T09:30:00Z\n"
                   f"c-2,csat,5,Lovely,{CUSTOMER_ID},,,phone,2026-11-20T09:30:00Z\n"
                   "c-3,nps,9,Great service,,Someone Else,someone@example.com,phone,2026-11-20T09:30:00Z\n")
    assert import_csv(engine, ws, csv).imported == 3
    erase(engine, ws, Subject.of(customer_id=CUSTOMER_ID), actor_id=None, via="cli:test")
    again = import_csv(engine, ws, csv)
    assert (again.imported, again.duplicate, again.rejected) == (0, 2, 1), "the others are plain duplicates"
    assert again.errors[0].line == 3 and "erased on request" in again.errors[0].reason
