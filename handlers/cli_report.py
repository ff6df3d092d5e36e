"""`cxloop report loops`: did closing the loop pay? Detractor cases, loops closed, customers won back,
follow-ups taken and done, per team or for everyone (the figures: bot/followup/report.py).

Only the standard library at import: building the `cxloop` parser (every command does) loads this module.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bot.config import Workspace
    from bot.followup.report import LoopFigures

# One row per figure and a column per group: nine figures side by side would not fit 80 columns.
FIGURES = ("detractor cases", "loops closed", "closed within SLA", "answered again", "recovered", "recovery rate",
           "came back, loop closed", "came back, loop not closed", "follow-ups", "follow-ups taken",
           "follow-ups done")


def configure(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace, Any], int]) -> None:
    """The `report` subcommands; `run` (handlers/cli.py) reads the period and calls `loops`."""
    what = parser.add_subparsers(dest="report", required=True, metavar="REPORT")
    loops = what.add_parser("loops", help="detractor cases, loops closed, customers who answered again and were "
                                          "won back, follow-ups taken and done")
    loops.add_argument("--since", help="inclusive, on when the case or follow-up was opened: a date (workspace "
                                       "time zone) or ISO-8601 instant")
    loops.add_argument("--until", help="exclusive: a date (workspace time zone) or ISO-8601 instant")
    loops.add_argument("--by", choices=["team"], help="one row per team (default: one row for everyone)")
    loops.add_argument("--json", action="store_true", help="print one JSON object")
    loops.set_defaults(func=run)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}%"


def _share(part: int, whole: int, rate: float | None) -> str:
    return f"{part} of {whole} ({_pct(rate)})" if whole else "—"


def row(g: LoopFigures) -> list[str]:
    return [str(g.detractor_cases), str(g.loops_closed), str(g.closed_within_sla), str(g.answered_again),
            str(g.recovered), _pct(g.recovery_rate), _share(g.closed.returned, g.closed.customers, g.closed.rate),
            _share(g.not_closed.returned, g.not_closed.customers, g.not_closed.rate), str(g.follow_ups), str(g.follow_ups_taken),
            str(g.follow_ups_done)]


def loops(args: argparse.Namespace, engine: Engine, ws: Workspace, since: datetime | None,
          until: datetime | None, iso: Callable[[datetime | None], str | None]) -> int:
    """`cxloop report loops`, for a period already read and checked."""
    from sqlmodel import Session

    from bot.followup.report import loop_figures, report_document

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
    table.add_column("")
    for g in groups:
        table.add_column(g.key, justify="right")
    columns = [row(g) for g in groups]
    for i, figure in enumerate(FIGURES):
        table.add_row(figure, *(c[i] for c in columns))
    out.print(table)
    out.print("Recovery rate: recovered ÷ customers who answered again after their loop was closed. Came back: "
              "customers who answered again at all, whether or not their loop was closed.", style="dim", highlight=False)
    return 0
