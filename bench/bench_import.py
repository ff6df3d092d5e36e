"""Benchmark: `import_csv` against a raw sqlite3 executemany of the same rows (not a test).

    .venv/bin/python bench/bench_import.py                 # 1,000,000 rows
    .venv/bin/python bench/bench_import.py --rows 50000    # a quick run
    .venv/bin/python bench/bench_import.py --keep DIR      # keep the CSV and both databases in DIR

Both databases are fresh SQLite files migrated to head with the project's migrations (so the
`survey_response` table has the same columns, unique constraint and indexes) and run with the
pragmas `storage.db.make_engine` sets (WAL, synchronous=NORMAL). The raw baseline reads the CSV
with the csv module and executemany-s the cells straight into the table in one transaction: no
validation, no routing beyond a dict lookup, the timestamp stored as the text it came as. That is
the most the database and Python can do; the target is import_csv at >= 30% of its rate.

`import_csv` runs with open_cases="recent" (change with --open-cases) and `now` one hour after the
newest response, so the detractors of the last few days (about 1,300 in a million rows) open cases
through the outbox as they would in production; each costs several milliseconds of ORM work that
the raw baseline does not do. --open-cases none compares the rows alone.
"""

from __future__ import annotations

import argparse
import csv
import random
import sqlite3
import sys
import time
import unicodedata
from datetime import datetime, timedelta, timezone
from pathlib import Path

from _common import ROOT, migrated_sqlite, quiet_logs  # noqa: F401  (ROOT puts the project on sys.path)

HEADER = ["id", "survey", "score", "comment", "customer_id", "customer_name", "customer_email", "touchpoint",
          "responded_at"]
TOUCHPOINTS = ["support", "chat", "phone", "email", "billing", "invoice", "refund", "delivery", "returns",
               "store", "web", "app", ""]  # web/app route to the default team; "" has none
TP_WEIGHTS = [14, 12, 12, 8, 8, 5, 4, 12, 8, 5, 5, 4, 3]
FIRST = ["James", "Sunita", "Rachel", "Oliver", "Kavya", "Pieter", "Helen", "Marta", "Paul", "Harpreet",
         "Pádraig", "Henrik", "Stuart", "Quang", "Charlotte", "Deepa", "Zoë", "Björn", "Amara", "Chen"]
LAST = ["Jenkins", "Iyer", "Evans", "Barnes", "Singh", "Weber", "García", "Lloyd", "Bose", "Doyle",
        "Johansson", "Harris", "Nguyen", "Cooper", "Bennett", "O'Brien", "Müller", "Okafor", "Kim", "Rossi"]
COMMENTS = [
    "Took six working days to get an email back. By then I'd sorted it myself.",
    "Asked for a corrected invoice three weeks ago. Still waiting.",
    "Brilliant service",
    "Terrible service",
    "Friendly, knew exactly what to do, and followed up the next day to check it was still working.",
    "Got there in the end but it took longer than it should have.",
    "Replied within a few hours even though I'd sent it late at night.",
    "The returns process is ridiculously complicated. Why do I need to give the reason three times?",
    'The agent said "we\'ll call you back" and nobody did.',
    "Parcel left in the rain.\nBox soaked, contents fine — just about.",
    "Moved me to a cheaper plan I didn't know existed. Saving about £12 a month.",
    "Poor",
    "ok",
]


def _ascii(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower().replace("'", "")


FIRST_EMAIL = [_ascii(n) for n in FIRST]
LAST_EMAIL = [_ascii(n) for n in LAST]
NPS_WEIGHTS = [4, 2, 2, 3, 3, 5, 6, 14, 16, 20, 25]  # about 45% promoters, 30% passives, 25% detractors
FIVE_WEIGHTS = [8, 10, 17, 35, 30]


def generate_csv(path: Path, rows: int, *, seed: int = 20261120,
                 end: datetime = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)) -> datetime:
    """Write `rows` realistic responses over the two years before `end`, oldest first; returns the newest instant.

    Deterministic for a seed. About 45% of the rows have a comment (some with commas, quotes or a line
    break), 10% no email; touchpoints cover every team, two unrouted ones and none.
    """
    rng = random.Random(seed)
    start = end - timedelta(days=730)
    step = timedelta(days=730).total_seconds() / max(rows, 1)
    customers = max(rows // 3, 1)
    surveys = rng.choices(("nps", "csat", "ces"), weights=(60, 25, 15), k=rows)
    nps = rng.choices(range(11), weights=NPS_WEIGHTS, k=rows)
    five = rng.choices(range(1, 6), weights=FIVE_WEIGHTS, k=rows)
    touchpoints = rng.choices(TOUCHPOINTS, weights=TP_WEIGHTS, k=rows)
    start_s = start.timestamp()
    newest = start

    def lines():  # type: ignore[no-untyped-def]
        nonlocal newest
        rand, randrange, choice = rng.random, rng.randrange, rng.choice
        for i in range(rows):
            cust = randrange(customers)
            f, l = cust % len(FIRST), (cust // len(FIRST)) % len(LAST)
            survey = surveys[i]
            at = datetime.fromtimestamp(int(start_s + i * step + rand() * step), timezone.utc)
            yield (f"r-{i + 1:07d}", survey, nps[i] if survey == "nps" else five[i],
                   choice(COMMENTS) if rand() < 0.45 else "", f"c-{cust:06d}", f"{FIRST[f]} {LAST[l]}",
                   f"{FIRST_EMAIL[f]}.{LAST_EMAIL[l]}{cust}@example.com" if rand() < 0.9 else "", touchpoints[i],
                   at.strftime("%Y-%m-%dT%H:%M:%SZ"))
        newest = at if rows else newest

    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow(HEADER)
        w.writerows(lines())
    return newest


def sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def raw_import(db: str, csv_path: Path, ws) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    """The baseline: csv.reader straight into executemany, one transaction, same pragmas."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    routes = {tp: t.key for t in ws.teams for tp in t.touchpoints}
    default = ws.default_team
    received = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    sql = ("INSERT INTO survey_response (source, external_id, survey, score, comment, customer_id, customer_name,"
           " customer_email, touchpoint, team, responded_at, received_at, raw)"
           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)")
    t0, c0 = time.perf_counter(), time.process_time()
    with csv_path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        rows = (("csv", r[0], r[1], int(r[2]), r[3] or None, r[4] or None, r[5] or None, r[6] or None,
                 r[7] or None, routes.get(r[7], default), r[8], received) for r in reader)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = conn.execute("SELECT count(*) FROM survey_response").fetchone()[0]
    conn.close()
    return elapsed, cpu, n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="rows to generate (default 1,000,000)")
    p.add_argument("--keep", type=Path, help="keep the CSV and both databases in this directory")
    p.add_argument("--seed", type=int, default=20261120)
    p.add_argument("--open-cases", choices=("all", "recent", "none"), default="recent",
                   help="import_csv's open_cases (default recent, as `cxloop import`; none = rows only, like the raw)")
    args = p.parse_args(argv)
    quiet_logs()

    from bot.config import load_workspace
    from bot.intake.csv_import import import_csv
    from storage.db import make_engine

    ws = load_workspace()
    tmp_csv, raw_url = migrated_sqlite("cxloop-bench-raw-")
    tmp_imp, imp_url = migrated_sqlite("cxloop-bench-import-")
    csv_path = Path(tmp_csv.name) / "responses.csv"

    t0 = time.perf_counter()
    newest = generate_csv(csv_path, args.rows, seed=args.seed)
    size = csv_path.stat().st_size
    print(f"generated {args.rows:,} rows ({size / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f}s: {csv_path}")

    raw_s, raw_cpu, raw_n = raw_import(sqlite_path(raw_url), csv_path, ws)

    engine = make_engine(imp_url)
    now = newest + timedelta(hours=1)
    t0, c0 = time.perf_counter(), time.process_time()
    report = import_csv(engine, ws, csv_path, mapping=None, open_cases=args.open_cases, now=now)
    imp_s, imp_cpu = time.perf_counter() - t0, time.process_time() - c0
    engine.dispose()
    assert report.imported == raw_n == args.rows, (report.imported, raw_n, report.errors[:5])

    print(f"{'':24}  {'rows':>10}  {'wall s':>7}  {'rows/s':>9}  {'CPU s':>7}  {'rows/CPU s':>10}")
    for name, n, wall, cpu in (("raw sqlite3 executemany", raw_n, raw_s, raw_cpu),
                               ("import_csv", report.imported, imp_s, imp_cpu)):
        print(f"{name:24}  {n:>10,}  {wall:>7.2f}  {n / wall:>9,.0f}  {cpu:>7.2f}  {n / cpu:>10,.0f}")
    ratio, cpu_ratio = raw_s / imp_s, raw_cpu / imp_cpu
    print(f"import_csv opened {report.cases_opened:,} cases (open_cases={args.open_cases!r}, now = newest + 1h)")
    print(f"ratio import/raw: {ratio:.2f} by wall time, {cpu_ratio:.2f} by CPU time "
          f"(target >= 0.30: {'met' if ratio >= 0.30 else 'NOT met'})")

    if args.keep:
        import shutil

        args.keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(csv_path, args.keep / "responses.csv")
        shutil.copy(sqlite_path(raw_url), args.keep / "raw.db")
        shutil.copy(sqlite_path(imp_url), args.keep / "import.db")
        print(f"kept in {args.keep}: responses.csv, raw.db, import.db")
    tmp_csv.cleanup()
    tmp_imp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
