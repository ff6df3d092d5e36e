"""`cxloop import`: bulk CSV intake (bot/intake/csv_import.py, csv_rows.py, csv_store.py; handlers/cli_import.py)."""

from __future__ import annotations

import argparse
import csv
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, text
from sqlmodel import select

from bot.config import load_workspace, parse_workspace
from bot.intake.csv_import import RowError, import_csv
from bot.intake.csv_rows import (
    FIELDS,
    CsvImportError,
    fast_values,
    prepare_cells,
    slow_values,
)
from bot.intake.csv_store import sqlite_datetime_text
from bot.intake.store import store_response
from bot.intake.surveys import InvalidResponse, build_response
from handlers import cli_import
from storage.db import session_scope
from storage.models import Case, CaseEvent, OutboxMessage, SurveyResponse

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
HEADER = ",".join(FIELDS)
WS = load_workspace()


@pytest.fixture(autouse=True)
def _now_is_now(process_clock) -> None:
    """This file's rows are dated against NOW; the process clock reads it too."""
    process_clock.now = NOW


def at(days: float = 0, hours: float = 0) -> str:
    """An instant `days` and `hours` before NOW, as a CSV cell."""
    return (NOW - timedelta(days=days, hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def row(rid: str, survey: str = "nps", score: object = 9, comment: str = "", customer_id: str = "c-1",
        name: str = "Dana Reyes", email: str = "dana@example.com", touchpoint: str = "phone",
        responded_at: str | None = None) -> list[str]:
    return [rid, survey, str(score), comment, customer_id, name, email, touchpoint,
            responded_at if responded_at is not None else at(days=30)]


def write(tmp_path: Path, rows: list[list[str]], *, header: list[str] | None = None, name: str = "in.csv",
          newline: str = "\n", bom: bool = False) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=newline)
    w.writerow(header or list(FIELDS))
    w.writerows(rows)
    data = buf.getvalue().encode("utf-8")
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def stored(engine: Engine) -> list[SurveyResponse]:
    with session_scope(engine) as s:
        return list(s.exec(select(SurveyResponse).order_by(SurveyResponse.id)))


def count(engine: Engine, model: type) -> int:
    with session_scope(engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


def cases(engine: Engine) -> list[tuple[str, str]]:
    """(external id, team) of each case, in id order."""
    with session_scope(engine) as s:
        rows = s.exec(select(SurveyResponse.external_id, Case.team).join(Case, Case.response_id == SurveyResponse.id)
                      .order_by(Case.id)).all()
    return [tuple(r) for r in rows]


def run(engine, path, **kw):
    kw.setdefault("mapping", None)
    kw.setdefault("now", NOW)
    return import_csv(engine, WS, path, **kw)


# --- the good file -------------------------------------------------------------------------------------


def test_good_file_is_stored_routed_and_scored(engine, tmp_path):
    path = write(tmp_path, [
        row("r-1", "nps", 10, "Lovely", touchpoint="Phone"),
        row("r-2", "csat", 4, "Quick refund, thanks", touchpoint="refund", responded_at="2026-10-01T09:30:00+02:00"),
        row("r-3", "ces", 5, "", customer_id="", name="", email="", touchpoint="", responded_at="2026-10-02T08:00:00"),
        row("r-4", "NPS", 7, "  padded  ", touchpoint="delivery"),
    ])
    report = run(engine, path)
    assert (report.imported, report.duplicate, report.rejected, report.cases_opened) == (4, 0, 0, 0)
    assert report.errors == [] and report.rows == 4
    assert report.summary() == "imported 4, duplicate 0, rejected 0, cases opened 0"
    r1, r2, r3, r4 = stored(engine)
    assert (r1.source, r1.external_id, r1.survey, r1.score, r1.comment) == ("csv", "r-1", "nps", 10, "Lovely")
    assert (r1.customer_id, r1.customer_name, r1.customer_email) == ("c-1", "Dana Reyes", "dana@example.com")
    assert (r1.touchpoint, r1.team) == ("phone", "support")
    assert (r2.team, r2.responded_at) == ("billing", datetime(2026, 10, 1, 7, 30, tzinfo=timezone.utc))
    assert (r3.comment, r3.customer_id, r3.customer_name, r3.customer_email, r3.touchpoint) == (None,) * 5
    assert (r3.team, r3.responded_at) == ("support", datetime(2026, 10, 2, 8, 0, tzinfo=timezone.utc))
    assert (r4.survey, r4.comment, r4.team) == ("nps", "padded", "delivery")
    assert all(r.received_at == NOW and r.raw is None for r in (r1, r2, r3, r4))

    from bot.reporting.scores import compute_scores

    by_team = {g.key: g for g in compute_scores(engine, by="team")}
    assert by_team["support"].nps.promoters == 1 and by_team["support"].ces.agree == 1
    assert by_team["billing"].csat.satisfied == 1 and by_team["delivery"].nps.passives == 1


def test_imported_rows_equal_what_intake_stores(engine, tmp_path):
    """Same values, same stored form (the bulk path pre-encodes what the ORM would)."""
    cells = row("r-1", "nps", 3, "Waited 40 minutes", touchpoint="Phone", responded_at="2026-11-18T10:15:00.25+01:00")
    cells2 = row("r-2", "nps", 9, responded_at="2026-11-18T10:15:00Z")
    run(engine, write(tmp_path, [cells, cells2]), open_cases="none")
    with session_scope(engine) as s:
        for c in (cells, cells2):
            data = {"source": "webhook", "external_id": c[0], "survey": c[1], "score": c[2], "comment": c[3],
                    "customer_id": c[4], "customer_name": c[5], "customer_email": c[6], "touchpoint": c[7],
                    "responded_at": c[8]}
            store_response(s, WS, build_response(data), now=NOW)
    cols = "external_id, survey, score, comment, customer_id, customer_name, customer_email, touchpoint, team, " \
           "responded_at, received_at"
    with engine.connect() as conn:
        mine = conn.execute(text(f"SELECT {cols} FROM survey_response WHERE source = 'csv' ORDER BY id")).all()
        theirs = conn.execute(text(f"SELECT {cols} FROM survey_response WHERE source = 'webhook' ORDER BY id")).all()
    assert mine == theirs  # on SQLite the datetime columns compare as their stored text


@pytest.mark.parametrize("cell", ["2026-11-18T10:15:00Z", "2026-11-18 10:15:00Z", "2026-11-18T10:15:00.123456Z",
                                  "2026-11-18T23:15:00-05:00", "2026-11-18", "2000-01-01T00:00:00Z"])
def test_sqlite_datetime_text_is_what_sqlalchemy_stores(cell):
    from sqlalchemy.dialects import sqlite

    from storage.types import UTCDateTime

    dt = slow_values(prepare_cells("r", "nps", "1", "", "", "", "", "", cell))[8]
    t = UTCDateTime()
    expected = t.dialect_impl(sqlite.dialect()).bind_processor(sqlite.dialect())(dt)  # type: ignore[misc]
    assert sqlite_datetime_text(dt, cell) == sqlite_datetime_text(dt) == expected


# --- bad rows --------------------------------------------------------------------------------------------


def test_broken_rows_are_reported_by_line_and_field_and_the_rest_imported(engine, tmp_path):
    path = write(tmp_path, [
        row("r-1"),                                                        # line 2
        row("r-2", "nps", 11),                                             # 3: bad score
        row("r-3", "pulse", 5),                                            # 4: unknown survey
        row("r-4", responded_at="20th of November"),                      # 5: bad date
        row("r-5", email="dana at example.com"),                           # 6: bad email
        row("", "nps", 3),                                                 # 7: missing id
        ["r-7", "nps", "3", "too few"],                                    # 8: wrong column count
        row("r-8", "csat", "4.5"),                                         # 9: not whole
        row("r-9", "ces", "", responded_at=""),                            # 10: two required missing
        row("r-10", "csat", 9, "bad score and email", email="x@y"),       # 11: two problems
        row("r-11", "csat", 5),                                            # 12
        row("r-3", "nps", 9),                                              # 13: fine (r-3 was rejected above)
    ])
    report = run(engine, path, open_cases="all")
    assert report.errors == [
        RowError(3, "score: score 11 is outside 0-10 for nps"),
        RowError(4, "survey: must be one of nps, csat, ces"),
        RowError(5, "responded_at: is not an ISO-8601 date-time"),
        RowError(6, "customer_email: is not an email address"),
        RowError(7, "id: is required"),
        RowError(8, "has 4 columns; the header has 9"),
        RowError(9, "score: must be a whole number"),
        RowError(10, "score: is required; responded_at: is required"),
        RowError(11, "customer_email: is not an email address; score: score 9 is outside 1-5 for csat"),
    ]
    assert (report.imported, report.duplicate, report.rejected, report.cases_opened) == (3, 0, 9, 0)
    assert [r.external_id for r in stored(engine)] == ["r-1", "r-11", "r-3"]
    assert count(engine, Case) == 0 and count(engine, OutboxMessage) == 0  # nothing of a bad row


def test_rows_the_csv_module_cannot_read_are_rejected_alone(engine, tmp_path):
    good = ",".join(row("r-1"))
    data = (HEADER + "\n" + good + "\n"
            + 'r-2,nps,5,"a quote "closed" too early",c,n,e@x.io,phone,' + at(30) + "\n"   # line 3
            + ",".join(row("r-3")) + "\n"
            + "r-4,nps,5,bad\x00byte,c,n,e@x.io,phone," + at(30) + "\n"                       # line 5
            + ",".join(row("r-5")) + "\n"
            + 'r-6,nps,5,"never closed\n' + ",".join(row("r-7")) + "\n")                     # line 7 to the end
    path = tmp_path / "q.csv"
    path.write_text(data, encoding="utf-8")
    report = run(engine, path)
    assert [e.line for e in report.errors] == [3, 5, 7]
    assert report.errors[0].reason.startswith("cannot be read as CSV")
    assert "NUL" in report.errors[1].reason
    assert "quote" in report.errors[2].reason
    assert [r.external_id for r in stored(engine)] == ["r-1", "r-3", "r-5"]


def test_blank_lines_and_rows_of_empty_cells_are_skipped_and_trailing_empty_cells_allowed(engine, tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text(HEADER + "\n\n" + ",".join(row("r-1")) + ",,\n" + ",,,,,,,,\n   \n"
                    + ",".join(row("r-2", "nps", 99)) + "\n\n", encoding="utf-8")
    report = run(engine, path)
    assert report.errors == [RowError(6, "score: score 99 is outside 0-10 for nps")]
    assert (report.imported, report.rejected) == (1, 1)


def test_error_list_is_capped_but_every_row_counted(engine, tmp_path):
    path = write(tmp_path, [row(f"r-{i}", "nps", 42) for i in range(30)])
    report = run(engine, path, max_errors=10)
    assert report.rejected == 30 and len(report.errors) == 10 and report.errors_not_listed == 20
    assert report.errors[-1].line == 11


# --- once only -------------------------------------------------------------------------------------------


def test_reimport_adds_nothing(engine, tmp_path):
    path = write(tmp_path, [row(f"r-{i}", "nps", i % 11, responded_at=at(hours=i)) for i in range(40)])
    first = run(engine, path, open_cases="all", batch_rows=7)
    assert (first.imported, first.duplicate, first.cases_opened) == (40, 0, 28)  # scores 0-6 of 0-10
    before = (count(engine, SurveyResponse), count(engine, Case), count(engine, OutboxMessage),
              count(engine, CaseEvent))
    again = run(engine, path, open_cases="all", batch_rows=7)
    assert (again.imported, again.duplicate, again.rejected, again.cases_opened) == (0, 40, 0, 0)
    assert (count(engine, SurveyResponse), count(engine, Case), count(engine, OutboxMessage),
            count(engine, CaseEvent)) == before


def test_an_id_stored_by_another_path_is_a_duplicate_only_for_the_same_source(engine, tmp_path):
    with session_scope(engine) as s:
        store_response(s, WS, build_response({"source": "csv", "external_id": "r-1", "survey": "nps", "score": 2,
                                              "responded_at": at(40)}), now=NOW)
        store_response(s, WS, build_response({"source": "generic", "external_id": "r-2", "survey": "nps",
                                              "score": 2, "responded_at": at(40)}), now=NOW)
    report = run(engine, write(tmp_path, [row("r-1", "nps", 1), row("r-2", "nps", 1)]), open_cases="all")
    assert (report.imported, report.duplicate, report.cases_opened) == (1, 1, 1)
    assert cases(engine)[-1] == ("r-2", "support")


@pytest.mark.parametrize("batch_rows", [2, 5000])
def test_duplicates_within_a_file_keep_the_first(engine, tmp_path, batch_rows):
    path = write(tmp_path, [
        row("r-1", "nps", 1, "first"), row("r-2", "nps", 9), row("r-1", "nps", 10, "second"),
        row("r-3", "nps", 0), row(" r-1 ", "nps", 2, "third"), row("r-3", "csat", 1),
    ])
    report = run(engine, path, open_cases="all", batch_rows=batch_rows)
    assert (report.imported, report.duplicate, report.rejected, report.cases_opened) == (3, 3, 0, 2)
    assert [(r.external_id, r.score, r.comment) for r in stored(engine)] == [
        ("r-1", 1, "first"), ("r-2", 9, None), ("r-3", 0, None)]
    assert [c[0] for c in cases(engine)] == ["r-1", "r-3"]


# --- columns ---------------------------------------------------------------------------------------------


def test_map_renames_columns_and_errors_name_the_column(engine, tmp_path):
    header = ["Response ID", "Type", "Rating", "Feedback", "Channel", "Submitted", "Email", "Agent"]
    rows = [
        ["A1", "nps", "9", "Great", "chat", "2026-11-01T10:00:00Z", "a@example.com", "Alice"],
        ["A2", "nps", "eleven", "", "billing", "2026-11-01T11:00:00Z", "", ""],
    ]
    path = write(tmp_path, rows, header=header)
    mapping = cli_import.parse_map(["Response ID=id", "Type=survey", "Rating=score", "Feedback=comment",
                                    "Channel=touchpoint", "Submitted=responded_at", "Email=customer.email"])
    report = run(engine, path, mapping=mapping)
    assert report.errors == [RowError(3, 'score (column "Rating"): must be a whole number')]
    assert report.extra_columns == ["Agent"]
    (r,) = stored(engine)
    assert (r.external_id, r.score, r.comment, r.touchpoint, r.team, r.customer_email) == (
        "A1", 9, "Great", "chat", "support", "a@example.com")
    assert r.raw == {"Agent": "Alice"}


def test_headers_match_fields_loosely(engine, tmp_path):
    header = ["ID", "Survey", "Score", "Customer Email", "Responded-At", "notes"]
    path = write(tmp_path, [["x1", "ces", "4", "z@example.com", "2026-11-01", ""]], header=header)
    report = run(engine, path)
    assert report.imported == 1 and report.extra_columns == ["notes"]
    (r,) = stored(engine)
    assert (r.external_id, r.customer_email, r.raw) == ("x1", "z@example.com", None)


@pytest.mark.parametrize("header, mapping, words", [
    (["id", "survey", "score", "comment"], None, ["responded_at", "--map"]),
    (["survey", "score", "responded_at"], None, ["no column for id"]),
    (list(FIELDS), {"Rating": "score"}, ['"Rating"', "no column"]),
    (list(FIELDS), {"score": "rating"}, ['"rating" is not a field', "responded_at"]),
    (list(FIELDS) + ["ID"], None, ['"id"', '"ID"', "both"]),
    (list(FIELDS), {"comment": "score", "customer_id": "score"}, ["both mapped to score"]),
])
def test_bad_columns_or_mapping_stop_before_anything_is_stored(engine, tmp_path, header, mapping, words):
    path = write(tmp_path, [["r-1"] + ["x"] * (len(header) - 1)], header=header)
    with pytest.raises(CsvImportError) as exc:
        run(engine, path, mapping=mapping)
    for w in words:
        assert w in str(exc.value)
    assert count(engine, SurveyResponse) == 0


def test_cli_constants_match_the_importer():
    from bot.intake import csv_rows

    assert cli_import.FIELDS == csv_rows.FIELDS and cli_import.OPEN_CASES == csv_rows.OPEN_CASES


def test_map_argument_parsing():
    assert cli_import.parse_map(["a=b=id", " NPS =score"]) == {"a=b": "id", " NPS ": "score"}
    for bad in (["score"], ["=id"], ["x="]):
        with pytest.raises(CsvImportError, match="COLUMN=FIELD"):
            cli_import.parse_map(bad)


def test_semicolon_separated_file(engine, tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("id;survey;score;responded_at\nr-1;nps;9;2026-11-01\nr-2;csat;x;2026-11-01\n", encoding="utf-8")
    report = run(engine, path)
    assert report.imported == 1 and report.errors == [RowError(3, "score: must be a whole number")]


# --- the file's shape ------------------------------------------------------------------------------------


def test_bom_crlf_and_multiline_comments_keep_physical_line_numbers(engine, tmp_path):
    rows = [
        row("r-1", "nps", 9, "one line"),                              # line 2
        row("r-2", "nps", 3, "three\r\nlines\r\nhere"),                # 3-5
        row("r-3", "nps", 12),                                         # 6: bad
        row("r-4", "csat", 4, 'says "hi",\nthen more'),                # 7-8
        row("r-5", "ces", 0),                                          # 9: bad
    ]
    path = write(tmp_path, rows, newline="\r\n", bom=True)
    report = run(engine, path)
    assert report.errors == [RowError(6, "score: score 12 is outside 0-10 for nps"),
                             RowError(9, "score: score 0 is outside 1-5 for ces")]
    r1, r2, r4 = stored(engine)
    assert r1.external_id == "r-1"  # the BOM is not part of the first column's name
    assert r2.comment == "three\r\nlines\r\nhere" and r4.comment == 'says "hi",\nthen more'


def test_not_utf8_is_a_clear_error_and_stores_nothing(engine, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "\n" + ",".join(row("r-1")) + "\n"
                      + ",".join(row("r-2", name="José Núñez")) + "\n").encode("latin-1"))
    with pytest.raises(CsvImportError) as exc:
        run(engine, path)
    assert "not UTF-8" in str(exc.value) and "line 3" in str(exc.value) and "e9" in str(exc.value)
    assert count(engine, SurveyResponse) == 0


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\n\n  \n"])
def test_empty_file_is_a_clear_error(engine, tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(CsvImportError, match="empty"):
        run(engine, path)


def test_missing_file_is_a_clear_error(engine, tmp_path):
    with pytest.raises(CsvImportError, match="no such file"):
        run(engine, tmp_path / "nope.csv")


def test_progress_reports_bytes_read(engine, tmp_path):
    path = write(tmp_path, [row(f"r-{i}", comment="x" * 200) for i in range(300)])
    seen: list[int] = []
    run(engine, path, progress=seen.append, batch_rows=50)
    assert len(seen) >= 6 and seen == sorted(seen) and seen[-1] == path.stat().st_size


# --- cases -----------------------------------------------------------------------------------------------


def _mixed(tmp_path: Path) -> Path:
    return write(tmp_path, [
        row("old-support", "nps", 2, touchpoint="phone", responded_at=at(days=6)),       # support: 5d
        row("recent-support", "nps", 6, touchpoint="chat", responded_at=at(days=4)),     # opens when recent
        row("edge-support", "csat", 2, touchpoint="email", responded_at=at(days=5)),     # exactly 5d: inside
        row("old-delivery", "ces", 1, touchpoint="delivery", responded_at=at(days=4)),   # delivery: 3d
        row("recent-delivery", "nps", 0, touchpoint="returns", responded_at=at(days=2, hours=23)),
        row("passive", "nps", 7, responded_at=at(hours=1)),
        row("promoter", "nps", 10, responded_at=at(hours=1)),
        row("csat-3", "csat", 3, responded_at=at(hours=1)),
        row("ces-2", "ces", 2, touchpoint="refund", responded_at=at(hours=1)),
        row("future", "nps", 1, responded_at=at(days=-1)),
    ])


@pytest.mark.parametrize("mode, expected", [
    ("all", ["old-support", "recent-support", "edge-support", "old-delivery", "recent-delivery", "ces-2",
             "future"]),
    ("recent", ["recent-support", "edge-support", "recent-delivery", "ces-2", "future"]),
    ("none", []),
])
def test_open_cases_modes(engine, tmp_path, mode, expected):
    report = run(engine, _mixed(tmp_path), open_cases=mode)
    assert report.imported == 10 and report.cases_opened == len(expected)
    assert [c[0] for c in cases(engine)] == expected
    # Cases come from the core: opened with their due times, an 'opened' event, the alert in the outbox.
    with session_scope(engine) as s:
        for case in s.exec(select(Case)):
            assert case.opened_at == NOW and case.status == "open"
            assert case.resolve_due_at == NOW + WS.sla_for(case.team).resolve_within
            kinds = [e.kind for e in s.exec(select(CaseEvent).where(CaseEvent.case_id == case.id))]
            assert kinds == ["opened"]
            (alert,) = s.exec(select(OutboxMessage).where(OutboxMessage.case_id == case.id))
            assert alert.dedupe_key == f"slack:case:{case.id}:alert"
            assert alert.target == WS.team(case.team).slack_channel and alert.status == "pending"
    assert count(engine, OutboxMessage) == len(expected)


def test_recent_counts_business_hours_when_the_sla_does(engine, tmp_path):
    ws = parse_workspace({"timezone": "UTC", "teams": [{"key": "support", "slack_channel": "C1"}],
                          "default_team": "support",
                          "sla": {"resolve_within": "16h", "business_hours": True},
                          "business_hours": {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}})
    now = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)  # Monday noon: 16 working hours back is Thu 12:00
    path = write(tmp_path, [
        row("thu-1159", "nps", 1, responded_at="2026-11-19T11:59:59Z"),
        row("thu-1200", "nps", 1, responded_at="2026-11-19T12:00:00Z"),
        row("sat", "nps", 1, responded_at="2026-11-21T12:00:00Z"),
    ])
    report = import_csv(engine, ws, path, mapping=None, open_cases="recent", now=now)
    assert report.cases_opened == 2
    assert [c[0] for c in cases(engine)] == ["thu-1200", "sat"]


def test_long_comment_is_queued_in_full_like_the_webhook(engine, tmp_path):
    long = "It broke. " * 200
    run(engine, write(tmp_path, [row("r-1", "nps", 0, long, responded_at=at(hours=2))]))
    with session_scope(engine) as s:
        keys = [m.dedupe_key for m in s.exec(select(OutboxMessage).order_by(OutboxMessage.id))]
    assert keys[0] == "slack:case:1:alert" and any(":comment:" in k for k in keys[1:])


@pytest.mark.postgres_only
def test_a_row_the_database_refuses_is_rejected_alone(engine, tmp_path):
    # 'İ' lower-cases to two characters: 64 of them fit ResponseIn's limit but not the column.
    path = write(tmp_path, [row("r-1", "nps", 1, responded_at=at(hours=1)), row("r-2", touchpoint="İ" * 64),
                            row("r-3", "nps", 2, responded_at=at(hours=1))])
    report = run(engine, path)
    assert (report.imported, report.rejected, report.cases_opened) == (2, 1, 2)
    assert report.errors[0].line == 3 and "database refused" in report.errors[0].reason


# --- the fast path agrees with build_response --------------------------------------------------------------

_ws = st.sampled_from(["", "", "", " ", "\t", "\u00a0", "\u2003", "\x1f", "\n"])


def _iso(d: datetime) -> str:
    return d.isoformat()


_aware = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                      timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=14)),
                                                 timezone(timedelta(hours=-12, minutes=-30))]))
# What a row's cells usually look like: valid, in the shapes exports use.
VALID = {
    "ext": st.one_of(st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True), st.text(min_size=1, max_size=30)),
    "survey": st.sampled_from(["nps", "csat", "ces", "NPS", "Csat", "CES"]),
    "score": st.integers(0, 10).map(str),
    "comment": st.one_of(st.just(""), st.text(max_size=40), st.sampled_from(["Great, thanks", "a\nb", 'say "hi"'])),
    "customer_id": st.one_of(st.just(""), st.from_regex(r"c-[0-9]{1,6}", fullmatch=True)),
    "customer_name": st.one_of(st.just(""), st.text(max_size=30)),
    "customer_email": st.one_of(st.just(""), st.from_regex(r"[a-z.]{1,10}@[a-z]{1,8}\.(com|org|co\.uk)",
                                                           fullmatch=True)),
    "touchpoint": st.one_of(st.just(""), st.sampled_from(["phone", "Chat", "BILLING", "web", "İstanbul"])),
    "responded_at": st.one_of(
        st.datetimes(min_value=datetime(1970, 1, 1)).map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")),
        _aware.map(_iso), st.datetimes().map(lambda d: d.isoformat(" ")),
        st.dates().map(lambda d: d.isoformat())),
}
# What goes wrong, or is merely unusual, in each cell.
ODD = {
    "ext": st.sampled_from(["", "x" * 200, "x" * 201, "é" * 200, "é" * 201, "0", "\x00"]),
    "survey": st.one_of(st.sampled_from(["pulse", "", "nps\x00", "ǹps", "n p s", "1"]), st.text(max_size=5)),
    "score": st.one_of(st.integers(-3, 13).map(str),
                       st.sampled_from(["", "07", "010", "5.0", "+5", "--5", "-0", "٣", "²", "1e1", "0x5", "1_0",
                                        "9" * 5000, "٠٩", "１"]),
                       st.text(alphabet="0123456789-+. ", max_size=4)),
    "comment": st.sampled_from(["a" * 100_000, "a" * 100_001, "\x00"]),
    "customer_id": st.sampled_from(["x" * 200, "x" * 201, "é" * 201]),
    "customer_name": st.sampled_from(["x" * 200, "x" * 201]),
    "customer_email": st.one_of(st.sampled_from(["dana@example", "@example.com", "dana example@x.io", "dana@@x.io",
                                                 "a@b.c", "a\t@b.c", "a@.", "x" * 300 + "@example.com",
                                                 "x" * 320 + "@example.com"]),
                                st.text(alphabet="ab@. \t", max_size=8)),
    "touchpoint": st.sampled_from(["y" * 64, "y" * 65, "İ" * 64, "İ" * 65, "PHONE"]),
    "responded_at": st.one_of(
        st.sampled_from(["", "20261120", "2026-11-20T10:15:00z", "2026-11-20T24:00:00Z", "9999-12-31T23:59:59-05:00",
                         "0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00-01:00", "2026-02-30T00:00:00Z",
                         "yesterday", "1700000000", "2026-11-20T10:15Z", "2026-W47-5", "2026-11-20T10:15:00.123Z",
                         "2026-11-20T10:15:00+00:00Z", "2026-11-20 10:15:00 Z",
                         # the edges of the accepted window (2000-01-01 to a day after NOW)
                         "1999-12-31T23:59:59Z", "2000-01-01T00:00:00Z", "2000-01-01T01:00:00+01:00",
                         "1999-12-31T23:59:59.999999", "2026-11-21T12:00:00Z", "2026-11-21T12:00:00.000001Z",
                         "2026-11-21T13:00:00+01:00", "2026-11-21T13:00:01+01:00", "1970-01-01"]),
        st.text(max_size=10)),
}


@st.composite
def csv_rows(draw: st.DrawFn) -> dict[str, str]:
    """A row that is valid except, often, for one to three odd cells; every cell maybe padded with whitespace."""
    cells = {name: draw(s) for name, s in VALID.items()}
    for name in draw(st.lists(st.sampled_from(list(ODD)), max_size=3, unique=True)):
        cells[name] = draw(ODD[name])
    return {name: draw(_ws) + v + draw(_ws) for name, v in cells.items()}


@hsettings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cells=csv_rows())
@example(cells={"ext": "r-1", "survey": "nps", "score": "3", "comment": "Waited.", "customer_id": "c-1",
                "customer_name": "Dana", "customer_email": "dana@example.com", "touchpoint": "Phone",
                "responded_at": "2026-11-20T10:15:00Z"})
def test_fast_path_agrees_with_build_response(cells):
    prepared = prepare_cells(*cells.values())
    fast = fast_values(*prepared)
    try:
        slow = slow_values(prepared)
    except InvalidResponse:
        assert fast is None, f"the fast path accepted a row build_response refuses: {prepared!r}"
        return
    if fast is not None:
        assert fast == slow
        assert fast[8].tzinfo is not None and fast[8].utcoffset() == timedelta(0)
        assert sqlite_datetime_text(fast[8], prepared[8]) == sqlite_datetime_text(slow[8])


def test_fast_path_takes_the_common_shapes():
    common = [
        ("r-1", "nps", "0", "", "", "", "", "", "2026-11-20T10:15:00Z"),
        ("r-2", "csat", "5", "Great, thanks", "c-9", "Zoë Müller", "zoe@example.co.uk", "Chat", "2026-11-20T10:15:00Z"),
        ("r-3", "ces", "3", "x" * 2000, "c-9", "Ada", "", "store", "2026-11-20T10:15:00.5+01:00"),
        ("r-4", "nps", "10", "", "", "", "", "", "2026-11-20 10:15:00"),
        ("r-5", "nps", "7", "", "", "", "", "", "2026-11-20"),
    ]
    for cells in common:
        assert fast_values(*prepare_cells(*cells)) == slow_values(prepare_cells(*cells))


# --- the command -----------------------------------------------------------------------------------------


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    cli_import.configure(p)
    return p.parse_args(list(argv))


def test_cli_prints_bad_rows_and_summary(engine, tmp_path, capsys):
    path = write(tmp_path, [row("r-1", "nps", 2, responded_at=at(hours=3)), row("r-2", "nps", 11),
                            row("r-3", "csat", "[red]x[/red]"), row("r-1")])
    assert cli_import.run(_args(str(path)), engine, WS) == 0
    out = capsys.readouterr().out
    assert "line 3: score: score 11 is outside 0-10 for nps" in out
    assert "line 4: score: must be a whole number" in out
    assert out.strip().splitlines()[-1] == "imported 1, duplicate 1, rejected 2, cases opened 1"


def test_cli_open_cases_and_map_options(engine, tmp_path, capsys):
    path = write(tmp_path, [["r-1", "nps", "2", at(hours=3)]], header=["id", "survey", "NPS", "responded_at"])
    assert cli_import.run(_args(str(path), "--map", "NPS=score", "--open-cases", "none"), engine, WS) == 0
    assert capsys.readouterr().out.strip().endswith("imported 1, duplicate 0, rejected 0, cases opened 0")
    assert count(engine, Case) == 0


@pytest.mark.parametrize("argv, words", [
    (["missing.csv"], "no such file"),
    (["{f}", "--map", "score"], "COLUMN=FIELD"),
    (["{f}", "--map", "Rating=score"], "Rating"),
    (["{f}", "--map", "score=grade"], "is not a field"),
])
def test_cli_unreadable_file_or_bad_mapping_exits_2(engine, tmp_path, capsys, argv, words):
    f = write(tmp_path, [row("r-1")])
    argv = [a.format(f=f) if "{f}" in a else (str(tmp_path / a) if a.endswith(".csv") else a) for a in argv]
    assert cli_import.run(_args(*argv), engine, WS) == 2
    captured = capsys.readouterr()
    assert words in captured.err and "error" in captured.err and captured.out == ""
    assert count(engine, SurveyResponse) == 0


def test_cli_not_utf8_exits_2(engine, tmp_path, capsys):
    path = tmp_path / "cp1252.csv"
    path.write_bytes((HEADER + "\n" + ",".join(row("r-1", name="Zoë")) + "\n").encode("cp1252"))
    assert cli_import.run(_args(str(path)), engine, WS) == 2
    assert "not UTF-8" in capsys.readouterr().err
