"""`cxloop report loops`: did closing the loop pay? Detractor cases, loops closed, customers won back,
follow-ups taken and done, per team or for everyone (the figures: bot/followup/report.py).

Only the standard library at import: building the `cxloop` parser (every command does) loads this module.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.followup.report import LoopFigures
    from bot.settings import Settings

COLUMNS = ("detractor cases", "loops closed", "within SLA", "answered again", "recovered", "recovery rate",
           "follow-ups", "taken", "done")


def configure(parser: argparse.ArgumentParser) -> None:
    what = parser.add_subparsers(dest="report", required=True, metavar="REPORT")
    loops = what.add_parser("loops", help="detractor cases, loops closed, customers who answered again and were "
                                          "won back, follow-ups taken and done")
    loops.add_argument("--since", help="inclusive, on when the case or follow-up was opened: a date (workspace "
                                       "time zone) or ISO-8601 instant")
    loops.add_argument("--until", help="exclusive: a date (workspace time zone) or ISO-8601 instant")
    loops.add_argument("--by", choices=["team"], help="one row per team (default: one row for everyone)")
    loops.add_argument("--json", action="store_true", help="print one JSON object")
    loops.set_defaults(func=cmd_report_loops)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}%"


def row(g: LoopFigures) -> list[str]:
    return [str(g.detractor_cases), str(g.loops_closed), str(g.closed_within_sla), str(g.answered_again),
            str(g.recovered), _pct(g.recovery_rate), str(g.follow_ups), str(g.follow_ups_taken),
            str(g.follow_ups_done)]


def cmd_report_loops(args: argparse.Namespace, settings: Settings) -> int:
    from sqlmodel import Session

    from bot.followup.report import loop_figures, report_document
    from handlers.cli import UsageError, _prepare, iso, parse_instant

    engine, ws = _prepare(settings)
    since = parse_instant(args.since, ws.zone, name="--since") if args.since else None
    until = parse_instant(args.until, ws.zone, name="--until") if args.until else None
    if since and until and since >= until:
        raise UsageError("--since must be before --until")
    with Session(engine) as s:
        groups = loop_figures(s, ws, since=since, until=until, by_team=args.by == "team")
    if args.json:
        import json

        print(json.dumps(report_document(groups, since=iso(since), until=iso(until), by=args.by)))
        return 0
    from rich.console import Console
    from rich.table import Table

    out = Console()
    period = f"{iso(since) or 'the beginning'} to {iso(until) or 'now'}"
    if not any(not g.empty for g in groups):
        out.print(f"No detractor cases and no follow-ups from {period}.")
        return 0
    table = Table(title=f"Closing the loop, {period}" + (" by team" if args.by else ""))
    table.add_column(args.by or "group")
    for col in COLUMNS:
        table.add_column(col, justify="right")
    for g in groups:
        table.add_row(g.key, *row(g))
    out.print(table)
    out.print("Recovery rate: recovered ÷ customers who answered again after their loop was closed.",
              style="dim", highlight=False)
    return 0
