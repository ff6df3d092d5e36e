"""`cxloop import FILE.csv`: bulk intake with a progress bar and a per-row error report.

Exit status: 0 when the file was read (even if some rows were rejected: they are listed with their
line numbers); 2 when it could not be imported at all (no such file, not UTF-8, no header, a bad
--map or a missing required column), with the reason on stderr and nothing stored; 1 when the
database failed part-way (the rows before the line named are stored; running the same import
again stores the rest, skipping those as duplicates).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from bot.config import Workspace
    from bot.intake.csv_import import ImportReport

# The same as bot.intake.csv_rows's (a test checks): repeated here so that building the `cxloop` parser,
# which every command does, does not import the import machinery.
FIELDS = ("id", "survey", "score", "comment", "customer_id", "customer_name", "customer_email", "touchpoint",
          "responded_at")
OPEN_CASES = ("all", "recent", "none")


def configure(parser: argparse.ArgumentParser) -> None:
    """Add FILE, --map and --open-cases to the `import` subcommand's parser."""
    parser.description = (
        "Import survey responses from a CSV file (UTF-8, header on line 1). Columns are matched to fields by "
        f"name ({', '.join(FIELDS)}); id, survey, score and responded_at are required. Re-importing a file "
        "adds nothing: rows are stored once per id. Rejected rows are listed with their line numbers.")
    parser.add_argument("file", metavar="FILE", type=Path, help="the CSV file")
    parser.add_argument("--map", dest="map", action="append", default=[], metavar="COLUMN=FIELD",
                        help="read FIELD from the column COLUMN (repeatable), e.g. --map 'Response ID=id' "
                             "--map NPS=score")
    parser.add_argument("--open-cases", dest="open_cases", choices=OPEN_CASES, default="recent",
                        help="which imported detractors open a case and alert their team: all; recent (the "
                             "default: those still inside their team's resolve_within SLA, older ones are "
                             "history, stored and scored without an alert); or none")


def parse_map(items: list[str]) -> dict[str, str]:
    """['Response ID=id', 'NPS=score'] -> {'Response ID': 'id', 'NPS': 'score'}; CsvImportError if malformed."""
    from bot.intake.csv_import import CsvImportError

    mapping: dict[str, str] = {}
    for item in items or []:
        column, eq, fld = item.rpartition("=")  # a column name may hold '=', a field name never does
        if not eq or not column.strip() or not fld.strip():
            raise CsvImportError(f"--map {item!r}: expected COLUMN=FIELD, e.g. --map 'Response ID=id'")
        if column in mapping:
            raise CsvImportError(f"--map: the column {column!r} is mapped twice")
        mapping[column] = fld.strip()
    return mapping


def print_report(out: Console, report: ImportReport) -> None:
    from rich.markup import escape

    from bot.intake.csv_import import iter_errors

    if report.rejected:
        out.print(f"Rejected rows ({report.rejected}):", highlight=False)
        for text in iter_errors(report):
            out.print(f"  {escape(text)}", highlight=False, soft_wrap=True)
    if report.extra_columns:
        out.print(f"Columns kept with each response but not used: {escape(', '.join(report.extra_columns))}",
                  highlight=False, soft_wrap=True)
    out.print(report.summary(), highlight=False)


def run(args: argparse.Namespace, engine, ws: Workspace) -> int:  # type: ignore[no-untyped-def]
    """Import args.file with a progress bar, print the rejected rows and the summary; the exit status."""
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from bot.intake.csv_import import CsvImportError, ImportInterrupted, import_csv

    out = Console()
    err = Console(stderr=True)
    path: Path = args.file
    try:
        mapping = parse_map(getattr(args, "map", None) or [])
        try:
            total = path.stat().st_size
        except OSError:
            total = None  # import_csv says what is wrong with it
        progress = Progress(TextColumn("Importing {task.description}"), BarColumn(), DownloadColumn(),
                            TransferSpeedColumn(), TimeRemainingColumn(), console=err, transient=True,
                            disable=not err.is_terminal)
        with progress:
            task = progress.add_task(escape(path.name), total=total)
            report = import_csv(engine, ws, path, mapping=mapping, open_cases=getattr(args, "open_cases", "recent"),
                                progress=lambda done: progress.update(task, completed=done))
    except CsvImportError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 2
    except ImportInterrupted as exc:
        print_report(out, exc.report)
        err.print(f"[red]error:[/red] import stopped: {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 1
    print_report(out, report)
    return 0
