"""Benchmark: how long quick `cxloop` commands take to start and answer (not a test).

    .venv/bin/python bench/bench_cli_start.py                      # 21 runs of each command
    .venv/bin/python bench/bench_cli_start.py --baseline af2ebb9   # and the same at another revision
    .venv/bin/python bench/bench_cli_start.py --runs 51 --importtime

Timed, each in a fresh process of this venv's Python running `-m handlers.cli` (what the `cxloop` script
runs), on an empty SQLite database already migrated to head:

- `cxloop --help`;
- `cxloop scores --json` (a SQLite file at head: read through the standard library's sqlite3);
- `cxloop scores --json` through SQLAlchemy, as on PostgreSQL (the same file, as `sqlite:///…?timeout=30`,
  which the sqlite3 path leaves to SQLAlchemy);
- and two floors: `python -c pass` (the interpreter alone) and `python -c "import sqlalchemy"`.

Each figure is the median of --runs runs: wall time, and the CPU time (user + system) the process used,
which other jobs on the machine disturb less. The commands (and, with --baseline, the two trees) take
turns within every round, so load from elsewhere falls on all of them alike. Python may write bytecode
(as an installed cxloop does; PYTHONDONTWRITEBYTECODE is dropped for the children), and one untimed
run of each comes first. Target: under 0.3 s wall for `--help` and for `scores --json`.

--baseline REV extracts that revision with `git archive` into a temporary directory and runs the same
commands from there, with the same venv: "before" and "after" measured side by side. --importtime
adds, per command and tree, the heaviest imports by `python -X importtime` (one run).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

from _common import ROOT, table

TARGET_S = 0.3

COMMANDS: dict[str, list[str]] = {
    "python -c pass": ["-c", "pass"],
    "python -c 'import sqlalchemy'": ["-c", "import sqlalchemy"],
    "cxloop --help": ["-m", "handlers.cli", "--help"],
    "cxloop scores --json": ["-m", "handlers.cli", "scores", "--json"],
    "cxloop scores --json, SQLAlchemy": ["-m", "handlers.cli", "scores", "--json"],
}
CXLOOP = ("cxloop --help", "cxloop scores --json")  # the commands with the target, timed in both trees
VIA_SQLALCHEMY = "cxloop scores --json, SQLAlchemy"


def extract(rev: str, into: Path) -> Path:
    """The tree of `rev` (from this repository) as files under `into`."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def child_env(db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "CXLOOP_CONFIG")}
    env["DATABASE_URL"] = db_url
    return env


def env_for(cmd: str, env: dict[str, str]) -> dict[str, str]:
    """The environment `cmd` runs in: the SQLAlchemy variant names the same file with an option."""
    return {**env, "DATABASE_URL": env["DATABASE_URL"] + "?timeout=30"} if cmd == VIA_SQLALCHEMY else env


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run; the command must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    run = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} (in {cwd}) failed:\n{run.stderr.decode()[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def heaviest_imports(argv: list[str], cwd: Path, env: dict[str, str], n: int = 6) -> list[tuple[str, int]]:
    """The `n` top-level imports (directly under the script) with the largest cumulative time, in µs."""
    run = subprocess.run([sys.executable, "-X", "importtime", *argv], cwd=cwd, env=env, capture_output=True, text=True)
    found = []
    for line in run.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        if name.startswith(" ") and not name.startswith("  "):  # depth 0: imported by the command itself
            found.append((name.strip(), int(cumulative)))
    return sorted(found, key=lambda x: -x[1])[:n]


def migrate(tree: Path, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "handlers.cli", "db", "upgrade"], cwd=tree, env=env, check=True,
                   capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=21, help="timed runs of each command (default 21)")
    ap.add_argument("--baseline", metavar="REV", help="also time the commands at this git revision (\"before\")")
    ap.add_argument("--importtime", action="store_true", help="list the heaviest imports of each command")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="cxloop-cli-start-") as tmp:
        work = Path(tmp)
        trees = {"this tree": ROOT}
        if args.baseline:
            trees[args.baseline] = extract(args.baseline, work / "baseline")
        envs = {}
        for name, tree in trees.items():
            # A database per tree, migrated by that tree's own code: each starts from "already at head".
            envs[name] = child_env(f"sqlite:///{work / (name.replace(' ', '-') + '.db')}")
            migrate(tree, envs[name])

        plan = [(tree, cmd) for cmd in COMMANDS for tree in trees if cmd in CXLOOP or tree == "this tree"]
        for tree, cmd in plan:  # warm-up: bytecode written, files in the page cache
            timed([sys.executable, *COMMANDS[cmd]], trees[tree], env_for(cmd, envs[tree]))
        samples: dict[tuple[str, str], list[tuple[float, float]]] = {key: [] for key in plan}
        for _ in range(args.runs):
            for tree, cmd in plan:
                samples[(tree, cmd)].append(timed([sys.executable, *COMMANDS[cmd]], trees[tree],
                                                  env_for(cmd, envs[tree])))

        rows, results = [], {}
        for (tree, cmd), runs in samples.items():
            walls, cpus = [w for w, _ in runs], [c for _, c in runs]
            wall, cpu = statistics.median(walls), statistics.median(cpus)
            results[(tree, cmd)] = (wall, cpu)
            meets = ("yes" if wall < TARGET_S else "NO") if cmd in (*CXLOOP, VIA_SQLALCHEMY) else ""
            rows.append((cmd, tree, wall * 1000, min(walls) * 1000, cpu * 1000, meets))
        print(f"{args.runs} runs each, medians; load average now {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        print(table(["command", "tree", "wall ms", "best ms", "CPU ms", f"< {TARGET_S} s"], rows))

        if args.baseline:
            print()
            for cmd in CXLOOP:
                (bw, bc), (aw, ac) = results[(args.baseline, cmd)], results[("this tree", cmd)]
                print(f"{cmd}: wall {bw * 1000:.0f} -> {aw * 1000:.0f} ms ({aw / bw:.2f}x), "
                      f"CPU {bc * 1000:.0f} -> {ac * 1000:.0f} ms ({ac / bc:.2f}x)")
        python = results[("this tree", "python -c pass")][1]
        sqlalchemy = results[("this tree", "python -c 'import sqlalchemy'")][1]
        for cmd in (*CXLOOP, VIA_SQLALCHEMY):
            cpu = results[("this tree", cmd)][1]
            print(f"{cmd}: {cpu * 1000:.0f} ms of CPU, {(cpu - python) * 1000:.0f} ms more than Python starting"
                  + (f" ({(cpu - sqlalchemy) * 1000:.0f} ms more than Python importing SQLAlchemy)"
                     if cmd == VIA_SQLALCHEMY else ""))

        if args.importtime:
            for tree, cmd in plan:
                if cmd not in (*CXLOOP, VIA_SQLALCHEMY):
                    continue
                heavy = heaviest_imports(COMMANDS[cmd], trees[tree], env_for(cmd, envs[tree]))
                print(f"\nheaviest imports, {cmd} ({tree}): "
                      + ", ".join(f"{name} {us / 1000:.0f} ms" for name, us in heavy))
        print("\nresult: " + json.dumps({f"{cmd} [{tree}]": {"wall_ms": round(w * 1000), "cpu_ms": round(c * 1000)}
                                        for (tree, cmd), (w, c) in results.items()}))


if __name__ == "__main__":
    main()
