"""Small helpers shared by the benchmarks in bench/ (not a test module, not part of cxloop)."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python bench/bench_x.py` from anywhere
    sys.path.insert(0, str(ROOT))


def quiet_logs() -> None:
    """What `cxloop serve` does without --verbose: warnings and errors only."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for h in logging.getLogger().handlers:
        # Bolt warns at every start that cxloop's `authorize` makes the client's token unused: noise here.
        h.addFilter(lambda r: "will be ignored" not in r.getMessage())


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p100 = max); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain, aligned text table (first column left-aligned, the rest right-aligned)."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def migrated_sqlite(prefix: str) -> tuple[tempfile.TemporaryDirectory[str], str]:
    """A fresh SQLite file in a temp dir, migrated to head with storage.db.upgrade."""
    from storage.db import upgrade

    tmp = tempfile.TemporaryDirectory(prefix=prefix)
    url = f"sqlite:///{Path(tmp.name) / 'cxloop.db'}"
    upgrade(url)
    return tmp, url


@contextmanager
def postgres_database(prefix: str, server_url: str | None = None) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one bench run, dropped afterwards.

    `server_url`: a server whose user may CREATE DATABASE; without it, scripts/postgres.sh starts
    a throwaway cluster (and stops it at the end).
    """
    import subprocess

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from storage.db import upgrade

    script = ROOT / "scripts" / "postgres.sh"
    started = server_url is None
    if started:
        server_url = subprocess.run(["bash", str(script), "start"], check=True, capture_output=True,
                                    text=True).stdout.strip()
    assert server_url is not None
    name = f"{prefix}_{os.getpid()}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url
    finally:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()
            if started:
                subprocess.run(["bash", str(script), "stop"], capture_output=True)


def proc_stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name: [0] state, [1] parent pid, [11] utime,
    [12] stime, [13] cutime, [14] cstime (in clock ticks). OSError if the process is gone."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int, *, ended_children: bool = False) -> float:
    """utime + stime of one process, all its threads, from /proc; with `ended_children`, plus the
    time of its children that have ended (and been waited for)."""
    fields = proc_stat(pid)
    return sum(int(f) for f in fields[11:15 if ended_children else 13]) / os.sysconf("SC_CLK_TCK")


async def idle_cpu_rate(cpu: Callable[[], Awaitable[tuple[float, float]]], seconds: float) -> tuple[float, float]:
    """CPU seconds per second that the processes `cpu` reads (server, workers) spend with nothing to
    do (their polls), to subtract from what a measured run costs. Start-up work (migrations, a
    worker's first run-due) is no one's idle: this first waits for three quiet seconds in a row."""
    quiet = 0
    for _ in range(120):
        a = await cpu()
        await asyncio.sleep(1.0)
        quiet = quiet + 1 if sum(await cpu()) - sum(a) <= 0.15 else 0
        if quiet >= 3:
            break
    a = await cpu()
    await asyncio.sleep(seconds)
    b = await cpu()
    return (b[0] - a[0]) / seconds, (b[1] - a[1]) / seconds
