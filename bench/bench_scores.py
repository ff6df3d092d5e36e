"""Benchmark: scores over a million responses, as a function and as `cxloop scores` (not a test).

    .venv/bin/python bench/bench_scores.py                       # builds a 1,000,000-row database first
    .venv/bin/python bench/bench_scores.py --rows 100000         # a quicker one
    .venv/bin/python bench/bench_scores.py --db /tmp/x/import.db # reuse one (bench_import.py --keep /tmp/x)
    .venv/bin/python bench/bench_scores.py --proposed-indexes    # also time with the indexes proposed below

The database is built with bench_import.generate_csv + import_csv (open_cases="none") into a fresh
migrated SQLite file. Timed: `compute_scores(by="team")` (first call on a new engine, then the best and
median of --repeat warm calls), the other groupings and two windows for comparison, and the whole
`cxloop scores --by team --json` command in a subprocess (DATABASE_URL selects the database), next to
the same command on an empty database, which is the command's fixed start-up cost. Target: < 1 s.

--proposed-indexes copies the database, adds

    CREATE INDEX ix_response_team_scores ON survey_response (team, survey, score, responded_at)
    CREATE INDEX ix_response_touchpoint_scores ON survey_response (touchpoint, survey, score, responded_at)

(the second would replace ix_survey_response_touchpoint, which it covers) and times everything again.
With them, GROUP BY team/touchpoint reads one covering index in order instead of sorting every row
in a temporary B-tree; with responded_at in the index, --since/--until stay covered too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from _common import ROOT, migrated_sqlite, quiet_logs

PROPOSED = [
    "CREATE INDEX ix_response_team_scores ON survey_response (team, survey, score, responded_at)",
    "CREATE INDEX ix_response_touchpoint_scores ON survey_response (touchpoint, survey, score, responded_at)",
]


def cli_path() -> Path | None:
    for p in (ROOT / ".venv" / "bin" / "cxloop", Path(sys.executable).parent / "cxloop"):
        if p.exists():
            return p
    return None


def build(rows: int, workdir: Path) -> str:
    import bench_import

    from bot.config import load_workspace
    from bot.intake.csv_import import import_csv
    from storage.db import make_engine, upgrade

    csv_path = workdir / "responses.csv"
    t0 = time.perf_counter()
    bench_import.generate_csv(csv_path, rows)
    url = f"sqlite:///{workdir / 'scores.db'}"
    upgrade(url)
    engine = make_engine(url)
    report = import_csv(engine, load_workspace(), csv_path, mapping=None, open_cases="none")
    engine.dispose()
    csv_path.unlink()
    print(f"built a database of {report.imported:,} responses in {time.perf_counter() - t0:.0f}s")
    return url


def timed(fn, repeat: int) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    """(first, best, median) seconds."""
    times = []
    for _ in range(repeat + 1):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times[0], min(times[1:]), statistics.median(times[1:])


def bench(url: str, repeat: int, label: str) -> None:
    from bot.reporting.scores import compute_scores, scores_document
    from storage.db import make_engine

    engine = make_engine(url)
    print(f"\n== {label}")
    newest = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
    cases = [
        ("compute_scores(by='team')", dict(by="team")),
        ("compute_scores(by='touchpoint')", dict(by="touchpoint")),
        ("compute_scores(by='survey')", dict(by="survey")),
        ("compute_scores() (no grouping)", dict()),
        ("by='team', last 7 days", dict(by="team", since=newest - timedelta(days=7), until=newest)),
        ("by='team', last 365 days", dict(by="team", since=newest - timedelta(days=365), until=newest)),
    ]
    print(f"{'':34} {'first':>8} {'best':>8} {'median':>8}   (seconds)")
    for name, kw in cases:
        first, best, med = timed(lambda: compute_scores(engine, **kw), repeat)  # noqa: B023
        mark = "  <- target < 1 s: " + ("met" if med < 1 else "NOT met") if kw == {"by": "team"} else ""
        print(f"{name:34} {first:8.3f} {best:8.3f} {med:8.3f}{mark}")
    expected = scores_document(compute_scores(engine, by="team"), since=None, until=None, by="team")
    engine.dispose()

    cli = cli_path()
    if cli is None:
        print("`cxloop` is not installed in the venv: timed the function only")
        return
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("CXLOOP_CONFIG", None)
    out = subprocess.run([str(cli), "scores", "--by", "team", "--json"], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        print(f"`cxloop scores` failed ({out.returncode}): {out.stderr.strip()[:300]}; timed the function only")
        return
    assert json.loads(out.stdout) == expected, "the CLI's JSON differs from compute_scores"

    def run_cli(db_url: str) -> None:
        subprocess.run([str(cli), "scores", "--by", "team", "--json"], env={**env, "DATABASE_URL": db_url},
                       check=True, capture_output=True)

    first, best, med = timed(lambda: run_cli(url), repeat)
    print(f"{'cxloop scores --by team --json':34} {first:8.3f} {best:8.3f} {med:8.3f}  <- target < 1 s: "
          + ("met" if med < 1 else "NOT met"))
    tmp, empty = migrated_sqlite("cxloop-bench-empty-")
    e_first, e_best, e_med = timed(lambda: run_cli(empty), repeat)
    tmp.cleanup()
    print(f"{'  the same on an empty database':34} {e_first:8.3f} {e_best:8.3f} {e_med:8.3f}  (start-up cost)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="rows in the database built (default 1,000,000)")
    p.add_argument("--db", type=Path, help="an existing SQLite database to use instead of building one")
    p.add_argument("--repeat", type=int, default=5, help="warm runs per measurement (default 5)")
    p.add_argument("--proposed-indexes", action="store_true", help="also time with the proposed indexes")
    args = p.parse_args(argv)
    quiet_logs()
    sys.path.insert(0, str(Path(__file__).parent))

    with tempfile.TemporaryDirectory(prefix="cxloop-bench-scores-") as tmp:
        work = Path(tmp)
        if args.db:
            url = f"sqlite:///{args.db.resolve()}"
        else:
            url = build(args.rows, work)
        import sqlite3

        path = url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            n = conn.execute("SELECT count(*) FROM survey_response").fetchone()[0]
        bench(url, args.repeat, f"{n:,} responses, the schema as migrated")
        if args.proposed_indexes:
            copy = work / "proposed.db"
            src, conn = sqlite3.connect(path), sqlite3.connect(copy)
            src.backup(conn)
            src.close()
            t0 = time.perf_counter()
            for stmt in PROPOSED:
                conn.execute(stmt)
            conn.commit()
            conn.close()
            print(f"\n(created the proposed indexes in {time.perf_counter() - t0:.1f}s; "
                  f"file {os.path.getsize(path) / 1e6:.0f} MB -> {os.path.getsize(copy) / 1e6:.0f} MB)")
            bench(f"sqlite:///{copy}", args.repeat, f"{n:,} responses, with the proposed indexes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
