"""The `cxloop` command line.

Every command imports what it uses inside its own function, and only that: `cxloop --help` builds the
parser from the standard library alone, and `cxloop scores --json` on a SQLite file at head needs only
the standard library and bot/reporting/scores.py: no SQLAlchemy, Alembic (the database is checked to be at head
with one query), Slack, Teams, OpenAI, matplotlib, rich, or the workspace's models unless a date has
to be read in its time zone.
bench/bench_cli_start.py measures it; tests/test_cli_start.py checks which modules are loaded.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, time, timezone, tzinfo
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy import Engine

    from bot.config import Workspace
    from bot.settings import Settings


def _stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True)


class UsageError(Exception):
    """A command-line argument is wrong; the message says which and why."""


def parse_instant(value: str, zone: tzinfo, *, name: str) -> datetime:
    """A date (midnight in the workspace time zone) or an ISO-8601 instant (no offset: UTC)."""
    s = value.strip()
    try:
        if _is_date(s):
            d = datetime.strptime(s, "%Y-%m-%d").date()
            return datetime.combine(d, time(0), tzinfo=zone).astimezone(timezone.utc)
        dt = datetime.fromisoformat(s[:-1] + "+00:00" if s.endswith("Z") else s)
    except ValueError:
        raise UsageError(f"{name} {value!r} is not a date (2026-11-01) or an ISO-8601 instant "
                         f"(2026-11-01T09:00:00Z)") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def iso(dt: datetime | None) -> str | None:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def _is_date(value: str | None) -> bool:
    """Whether parse_instant reads `value` as a date (midnight in the workspace's time zone)."""
    return value is not None and len(value.strip()) == 10


def _workspace(settings: Settings) -> Workspace:
    from bot.config import load_workspace

    return load_workspace(settings.cxloop_config)


def _engine(url: str) -> Engine:
    """The database, migrated to head first (Alembic is loaded only when it is behind)."""
    from storage.db import at_head, make_engine, upgrade

    engine = make_engine(url)
    if not at_head(engine):
        upgrade(url)
    return engine


def _prepare(settings: Settings, *, effective: bool = True):  # type: ignore[no-untyped-def]
    """Migrate, load the workspace, and make sure its people exist in the database. The workspace
    returned has the team settings changed in chat applied, unless `effective` is False (a server's
    Runtime applies them itself, and re-reads them when they change)."""
    from bot.people.roster import sync_workspace
    from bot.people.teams import effective_workspace
    from storage.db import session_scope

    from bot.privacy import keys

    keys.install(settings)  # intake refuses erased customers' answers; an erasure needs it
    ws = _workspace(settings)
    engine = _engine(settings.database_url)
    with session_scope(engine) as s:
        sync_workspace(s, ws)
        return engine, (effective_workspace(s, ws) if effective else ws)


# --- commands --------------------------------------------------------------------------------


def cmd_scores(args: argparse.Namespace, settings: Settings | None) -> int:
    """Scores; started without pydantic (`settings` is None): the database URL and the workspace path
    are the only settings it reads, straight from DATABASE_URL and CXLOOP_CONFIG."""
    from bot.reporting.scores import (
        compute_scores,
        compute_scores_sqlite,
        scores_document,
    )
    from storage.location import default_url
    from storage.revision import sqlite_at_head

    database_url = default_url()
    # The workspace is read only for its time zone, which only a date in --since/--until needs.
    if _is_date(args.since) or _is_date(args.until):
        from bot.config import load_workspace

        zone: tzinfo = load_workspace(os.environ.get("CXLOOP_CONFIG") or None).zone
    else:
        zone = timezone.utc
    since, until = _period(args, zone)
    # A SQLite file already at head is read through the standard library's sqlite3: importing SQLAlchemy
    # alone would take longer than this whole command (bench/bench_cli_start.py). Anything else (PostgreSQL,
    # a new or older database) goes through SQLAlchemy, migrated first.
    conn = sqlite_at_head(database_url)
    if conn is not None:
        try:
            groups = compute_scores_sqlite(conn, since=since, until=until, by=args.by)
        finally:
            conn.close()
    else:
        groups = compute_scores(_engine(database_url), since=since, until=until, by=args.by)
    if args.json:
        import json

        print(json.dumps(scores_document(groups, since=iso(since), until=iso(until), by=args.by)))
        return 0
    from rich.console import Console
    from rich.table import Table

    out = Console()
    period = f"{iso(since) or 'the beginning'} to {iso(until) or 'now'}"
    if not any(g.responses for g in groups):
        out.print(f"No responses from {period}: nothing to score.")
        return 0
    table = Table(title=f"Scores from {period}" + (f" by {args.by}" if args.by else ""))
    for col in (args.by or "group", "NPS", "n", "CSAT", "n", "CES", "n"):
        table.add_column(col, justify="left" if col in (args.by or "group",) else "right")

    def fmt(v: object, suffix: str = "") -> str:
        return "no responses" if v is None else f"{v:+.1f}" if suffix == "nps" else f"{v}{suffix}"

    for g in groups:
        table.add_row(g.key, fmt(g.nps.score, "nps"), str(g.nps.responses), fmt(g.csat.score, "%"),
                      str(g.csat.responses), fmt(g.ces.score, "%"), str(g.ces.responses))
    out.print(table)
    return 0


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import upgrade

    upgrade(settings.database_url)
    print(f"Database at {redact(settings.database_url)} is up to date.")
    return 0


def redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _period(args: argparse.Namespace, zone: tzinfo) -> tuple[datetime | None, datetime | None]:
    """--since (inclusive) and --until (exclusive): a date in `zone` or an ISO-8601 instant each."""
    since = parse_instant(args.since, zone, name="--since") if args.since else None
    until = parse_instant(args.until, zone, name="--until") if args.until else None
    if since and until and since >= until:
        raise UsageError("--since must be before --until")
    return since, until


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from handlers import cli_import

    engine, ws = _prepare(settings)
    return cli_import.run(args, engine, ws)


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from handlers import cli_report

    engine, ws = _prepare(settings)
    since, until = _period(args, ws.zone)
    return cli_report.loops(args, engine, ws, since, until, iso)


def cmd_privacy(args: argparse.Namespace, settings: Settings) -> int:
    from handlers import cli_privacy

    engine, ws = _prepare(settings)
    return cli_privacy.run(args, engine, ws)


def cmd_run_due(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    import json

    from handlers.jobs import run_due

    engine, ws = _prepare(settings)
    at = parse_instant(args.at, ws.zone, name="--at") if args.at else None
    summary = asyncio.run(run_due(engine, ws, settings, at=at))
    print(json.dumps(summary))
    return 0


def cmd_improvements(args: argparse.Namespace, settings: Settings) -> int:
    from bot.improvement.report import rows
    from storage.types import utcnow

    engine, ws = _prepare(settings)
    if args.team and args.team not in {t.key for t in ws.teams}:
        raise UsageError(f"there is no team {args.team!r}; teams: {', '.join(t.key for t in ws.teams)}")
    from sqlmodel import Session

    with Session(engine) as s:
        found = rows(s, ws, team=args.team, now=utcnow())
    if args.json:
        import json

        print(json.dumps({"team": args.team, "improvements": found}))
        return 0
    from rich.console import Console
    from rich.table import Table

    out = Console()
    if not found:
        out.print("No improvements under way" + (f" in {args.team}." if args.team else "."))
        return 0
    table = Table(title="Improvements under way")
    for col in ("#", "team", "title", "stage", "owners", "metric", "baseline (n)", "latest (n)", "target"):
        table.add_column(col, justify="right" if col in ("#",) else "left")

    def fig(v: float | None, n: int | None) -> str:
        return "—" if v is None else f"{v:g} ({n})"

    for r in found:
        latest = r["latest"] or {}
        table.add_row(str(r["id"]), r["team"], r["title"], r["stage"], ", ".join(o or "?" for o in r["owners"]),
                      r["metric"], fig(r["baseline"]["value"], r["baseline"]["responses"]),
                      fig(latest.get("value"), latest.get("responses")),
                      f"{r['target']['value']:g} by {r['target']['date']}")
    out.print(table)
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from handlers.serve import serve

    if args.workers < 0:
        raise UsageError("--workers must be 0 or more")
    engine, ws = _prepare(settings, effective=False)
    argv = ([sys.executable, "-m", "handlers.cli"] + (["--verbose"] if args.verbose else [])
            + ["work", "--nice", str(args.worker_nice)])
    asyncio.run(serve(engine, ws, settings, host=args.host, port=args.port, workers=args.workers, worker_argv=argv))
    return 0


def cmd_work(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from handlers.serve import work

    if args.nice:
        os.nice(args.nice)  # yield the CPU to the server's acknowledgements when both want it

    engine, ws = _prepare(settings, effective=False)
    asyncio.run(work(engine, ws, settings))
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.demo import run_demo

    return run_demo(settings, db_path=args.db, fast=args.fast)


def cmd_sandbox(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from standins.sandbox.world import serve_sandbox

    if not 0 <= args.port <= 65535:
        raise UsageError("--port must be between 0 and 65535")
    try:
        asyncio.run(serve_sandbox(port=args.port, db_path=args.db))
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}") from None
    return 0


def cmd_teams_package(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from handlers.teams.package import PackageError, build

    bot_id = args.app_id or settings.teams_app_id
    if not bot_id:
        raise UsageError("give --app-id or set TEAMS_APP_ID: the Microsoft App ID of your Azure Bot")
    try:
        package = build(bot_id, args.base_url)
    except PackageError as exc:
        raise UsageError(str(exc)) from None
    out = Path(args.out)
    out.write_bytes(package.zip_bytes())
    for warning in package.warnings:
        _stderr().print(f"[yellow]note:[/yellow] {warning}", highlight=False, soft_wrap=True)
    print(f"Wrote {out} (Teams app {package.manifest['id']}, bot {bot_id}). Upload it in Teams: "
          f"Apps → Manage your apps → Upload an app.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cxloop", description="Closed-loop customer experience in Slack and Teams.")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("serve", help="run the HTTP server (Slack, Teams, webhooks) with the scheduler")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; 0.0.0.0 in a container)")
    s.add_argument("--port", type=int, default=3000, help="port (default 3000)")
    s.add_argument("--workers", type=int, default=1,
                   help="worker processes handling Slack requests after their ack, delivery and the scheduler "
                        "(default 1; 0: all in the server process)")
    s.add_argument("--worker-nice", type=int, default=10, metavar="N",
                   help="run the worker processes N steps nicer than the server, so that when the CPU is short "
                        "Slack's acknowledgements go first (default 10; 0: same priority)")
    s.set_defaults(func=cmd_serve)

    w = sub.add_parser("work", help="one more worker process (in its own container, say): Slack requests "
                                    "after their ack, delivery, the scheduler")
    w.add_argument("--nice", type=int, default=0, metavar="N", help="lower this process's CPU priority by N")
    w.set_defaults(func=cmd_work)

    i = sub.add_parser("import", help="bulk intake of survey responses from a CSV file")
    try:
        from handlers import cli_import

        cli_import.configure(i)
    except ImportError:  # pragma: no cover - during development only
        i.add_argument("file")
    i.set_defaults(func=cmd_import)

    sc = sub.add_parser("scores", help="NPS, CSAT and CES for a period")
    sc.add_argument("--since", help="inclusive: a date (workspace time zone) or ISO-8601 instant")
    sc.add_argument("--until", help="exclusive: a date (workspace time zone) or ISO-8601 instant")
    sc.add_argument("--by", choices=["team", "touchpoint", "survey"], help="group the scores")
    sc.add_argument("--json", action="store_true", help="print one JSON object")
    sc.set_defaults(func=cmd_scores, without_settings=True)

    rp = sub.add_parser("report", help="reports: `report loops` (did closing the loop win customers back?)")
    from handlers import cli_report

    cli_report.configure(rp, cmd_report)
    im = sub.add_parser("improvements", help="improvements under way: stage, owners, metric now vs baseline")
    im.add_argument("--team", help="only this team's (its key)")
    im.add_argument("--json", action="store_true", help="print one JSON object")
    im.set_defaults(func=cmd_improvements)
    pv = sub.add_parser("privacy", help="a customer's data: export it, or erase it everywhere (GDPR 15 and 17)")
    from handlers import cli_privacy

    cli_privacy.configure(pv)
    pv.set_defaults(func=cmd_privacy)

    r = sub.add_parser("run-due", help="do all work due at an instant, once (safe to repeat, for cron)")
    r.add_argument("--at", help="ISO-8601 instant (default: now)")
    r.set_defaults(func=cmd_run_due)

    d = sub.add_parser("demo", help="a first look: sample data through a local Slack stand-in")
    d.add_argument("--db", default="cxloop-demo.db", help="SQLite file for the demo (recreated; default %(default)s)")
    d.add_argument("--fast", action="store_true", help="no pauses between scenes")
    d.set_defaults(func=cmd_demo)

    sb = sub.add_parser("sandbox", help="try cxloop in a browser: Slack and Teams stand-ins driving the real server, "
                                         "on 127.0.0.1")
    sb.add_argument("--port", type=int, default=8700, help="the page's port on 127.0.0.1 (default %(default)s)")
    sb.add_argument("--db", default="cxloop-sandbox.db", help="SQLite file (recreated; default %(default)s)")
    # The sandbox configures itself (its own database, stand-ins and secrets): no settings from the environment.
    sb.set_defaults(func=cmd_sandbox, without_settings=True)

    tp = sub.add_parser("teams-package", help="write the Microsoft Teams app package (a zip to upload in Teams)")
    tp.add_argument("--app-id", help="the Azure Bot's Microsoft App ID (default: TEAMS_APP_ID)")
    tp.add_argument("--base-url", help="the https URL cxloop is served at (validDomains, developer links)")
    tp.add_argument("--out", default="cxloop-teams.zip", help="the zip to write (default %(default)s)")
    tp.set_defaults(func=cmd_teams_package)

    db = sub.add_parser("db", help="database maintenance")
    dbs = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = dbs.add_parser("upgrade", help="apply migrations")
    up.set_defaults(func=cmd_db)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # --help and usage errors exit here, having imported nothing more
    import logging

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from bot.errors import ConfigError
    from storage import clock

    try:
        try:
            clock.install_from_env()
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        settings = None
        if not getattr(args, "without_settings", False):
            from bot.settings import load_settings

            settings = load_settings()
        return int(args.func(args, settings) or 0)
    except (ConfigError, UsageError) as exc:
        _stderr().print(f"[red]error:[/red] {exc}", highlight=False, markup=True, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
