"""The bundled sample data that `cxloop demo` runs on: bot/data/sample_responses.csv."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "bot" / "data" / "sample_responses.csv"
WORKSPACE = ROOT / "bot" / "data" / "workspace.yaml"
GENERATOR = ROOT / "scripts" / "make_sample_data.py"

HEADER = ["id", "survey", "score", "comment", "customer_id", "customer_name", "customer_email",
          "touchpoint", "responded_at"]
RANGES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 5)}
FIRST = datetime(2026, 8, 31, tzinfo=timezone.utc)          # Monday
AFTER_LAST = datetime(2026, 11, 21, tzinfo=timezone.utc)    # the day after Friday 2026-11-20


@pytest.fixture(scope="module")
def table() -> tuple[list[str], list[dict[str, str]]]:
    with SAMPLE.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


@pytest.fixture(scope="module")
def rows(table) -> list[dict[str, str]]:
    return table[1]


@pytest.fixture(scope="module")
def workspace() -> dict:
    return yaml.safe_load(WORKSPACE.read_text(encoding="utf-8"))


def at(row: dict[str, str]) -> datetime:
    return datetime.fromisoformat(row["responded_at"].replace("Z", "+00:00"))


def is_praise(row: dict[str, str]) -> bool:
    kind, score = row["survey"], int(row["score"])
    return score >= 9 if kind == "nps" else score == 5 if kind == "csat" else score >= 4


def team_of(workspace: dict) -> dict[str, str]:
    return {tp: t["key"] for t in workspace["teams"] for tp in t["touchpoints"]}


def named_people(comment: str, workspace: dict) -> set[str]:
    """Roster people a comment names, by full name or by first name (whole words, any case)."""
    found = set()
    for uid, person in workspace["people"].items():
        full = person["name"]
        first = full.split()[0]
        if re.search(rf"\b{re.escape(full)}\b", comment, re.I) or re.search(rf"\b{re.escape(first)}\b", comment, re.I):
            found.add(uid)
    return found


# ---- shape -----------------------------------------------------------------------------------

def test_header_is_exact(table):
    assert table[0] == HEADER
    first_line = SAMPLE.read_text(encoding="utf-8").splitlines()[0]
    assert first_line == ",".join(HEADER)


def test_about_six_hundred_rows_each_complete(rows):
    assert 550 <= len(rows) <= 650
    for r in rows:
        assert None not in r, f"{r.get('id')}: extra columns"
        assert all(v is not None for v in r.values()), f"{r['id']}: missing columns"


def test_ids_are_unique_and_shaped(rows):
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"r-\d{5}", i) for i in ids)
    assert min(int(i[2:]) for i in ids) == 10001


def test_scores_are_whole_numbers_in_range(rows):
    for r in rows:
        assert r["survey"] in RANGES, r["id"]
        assert re.fullmatch(r"\d{1,2}", r["score"]), r["id"]
        lo, hi = RANGES[r["survey"]]
        assert lo <= int(r["score"]) <= hi, r["id"]


def test_survey_mix(rows):
    kinds = Counter(r["survey"] for r in rows)
    n = len(rows)
    assert abs(kinds["nps"] / n - 0.60) < 0.05
    assert abs(kinds["csat"] / n - 0.25) < 0.05
    assert abs(kinds["ces"] / n - 0.15) < 0.05


# ---- time ------------------------------------------------------------------------------------

def test_every_response_is_inside_the_twelve_weeks(rows):
    for r in rows:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["responded_at"]), r["id"]
        assert FIRST <= at(r) < AFTER_LAST, r["id"]
    weeks = Counter((at(r) - FIRST).days // 7 for r in rows)
    assert sorted(weeks) == list(range(12))
    assert min(weeks.values()) >= 30


def test_weekdays_and_business_hours_are_busier(rows):
    days = Counter(at(r).weekday() for r in rows)
    weekday_avg = sum(days[d] for d in range(5)) / 5
    weekend_avg = (days[5] + days[6]) / 2
    assert weekend_avg < weekday_avg / 2
    office = sum(1 for r in rows if 7 <= at(r).hour < 18)     # London 8-18 / 9-18, in UTC
    assert office > 0.7 * len(rows)


# ---- routing and scores -------------------------------------------------------------------------

def test_every_team_touchpoint_is_present_and_some_fall_to_the_default_team(rows, workspace):
    present = Counter(r["touchpoint"] for r in rows)
    for team in workspace["teams"]:
        for tp in team["touchpoints"]:
            assert present[tp] >= 10, f"{team['key']}: {tp}"
    unlisted = set(present) - set(team_of(workspace))
    assert unlisted, "some touchpoints should be listed by no team"
    assert sum(present[tp] for tp in unlisted) >= 20


def nps(rows) -> float:
    scores = [int(r["score"]) for r in rows if r["survey"] == "nps"]
    return 100 * (sum(s >= 9 for s in scores) - sum(s <= 6 for s in scores)) / len(scores)


def test_overall_nps_is_modestly_positive(rows):
    assert 10 <= nps(rows) <= 30


def test_delivery_dips_in_october_and_billing_improves(rows, workspace):
    teams = team_of(workspace)

    def team_nps(team, start, end):
        return nps([r for r in rows if teams.get(r["touchpoint"]) == team
                    and datetime(*start, tzinfo=timezone.utc) <= at(r) < datetime(*end, tzinfo=timezone.utc)])

    sept = team_nps("delivery", (2026, 8, 31), (2026, 9, 28))
    octo = team_nps("delivery", (2026, 10, 5), (2026, 11, 2))
    nov = team_nps("delivery", (2026, 11, 2), (2026, 11, 21))
    assert octo < sept - 20 and octo < nov - 20
    assert team_nps("billing", (2026, 8, 31), (2026, 10, 5)) < team_nps("billing", (2026, 10, 12), (2026, 11, 21)) - 15


# ---- comments --------------------------------------------------------------------------------------

def test_comments_are_varied_and_some_are_empty(rows):
    comments = [r["comment"] for r in rows]
    filled = [c for c in comments if c.strip()]
    assert 0.1 * len(rows) < len(rows) - len(filled) < 0.5 * len(rows)
    assert len(set(filled)) > 0.6 * len(filled)
    assert any(len(c) < 12 for c in filled) and sum(len(c) > 100 for c in filled) > 20


def test_praise_names_roster_people_of_the_right_team(rows, workspace):
    teams = team_of(workspace)
    crew = {t["key"]: set(t["members"]) | set(t["managers"]) for t in workspace["teams"]}
    named = defaultdict(int)
    praising = 0
    for r in rows:
        people = named_people(r["comment"], workspace)
        if not people:
            continue
        assert is_praise(r), f"{r['id']} names staff but is not praise"
        team = teams.get(r["touchpoint"], workspace["default_team"])
        assert people <= crew[team], f"{r['id']}: {people} not in {team}"
        praising += 1
        for uid in people:
            named[uid] += 1
    assert praising >= 30
    assert set(named) >= {uid for t in workspace["teams"] for uid in t["members"]}


def test_sam_is_named_alone_in_full_and_alongside_samira(rows):
    comments = [r["comment"] for r in rows]
    bare_sam = [c for c in comments if re.search(r"\bSam\b(?! Taylor)", c) and "Samira" not in c]
    assert len(bare_sam) >= 2
    assert sum("Sam Taylor" in c for c in comments) >= 2
    assert any(re.search(r"\bSam\b", c) and "Samira" in c and "not sure" in c for c in comments)


def test_hostile_and_tricky_comments_are_present(rows):
    comments = [r["comment"] for r in rows]
    assert any("<!channel>" in c for c in comments)
    assert any("@here" in c for c in comments)
    assert any("<https://evil.example|click here>" in c for c in comments)
    assert any("&" in c and "<" in c and ">" in c and "evil.example" not in c for c in comments)
    assert any("José" in c and "Zoë" in c and any(ord(ch) >= 0x1F300 for ch in c) for c in comments)
    assert any(len(c) >= 2500 for c in comments)
    assert any(re.search(r"\b0\d{4} ?\d{6}\b", c) and re.search(r"[\w.]+@[\w.]+\.\w+", c) for c in comments)


# ---- customers ------------------------------------------------------------------------------------------

def test_customers_are_consistent_repeat_and_some_are_anonymous(rows):
    people: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for r in rows:
        if r["customer_id"]:
            assert re.fullmatch(r"c-\d{4}", r["customer_id"]), r["id"]
            assert r["customer_name"], r["id"]
            people[r["customer_id"]].add(r["customer_name"])
        else:
            assert not r["customer_name"] and not r["customer_email"], r["id"]
        if r["customer_email"]:
            assert re.fullmatch(r"[a-z0-9._]+@example\.(com|org)", r["customer_email"]), r["id"]
    assert all(len(names) == 1 for names in people.values())
    answers = Counter(r["customer_id"] for r in rows if r["customer_id"])
    assert sum(1 for n in answers.values() if n > 1) >= 20
    assert sum(1 for r in rows if not r["customer_id"]) >= 10
    emails = defaultdict(set)
    for r in rows:
        if r["customer_email"]:
            emails[r["customer_email"]].add(r["customer_id"])
    assert all(len(ids) == 1 for ids in emails.values())


# ---- provenance -------------------------------------------------------------------------------------------

def test_generator_reproduces_the_bundled_file(tmp_path):
    out = tmp_path / "sample.csv"
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(out)], check=True, capture_output=True)
    assert out.read_bytes() == SAMPLE.read_bytes()


def test_rows_pass_intake_validation(rows):
    from bot.intake import surveys

    for r in rows:
        data = {"source": "csv", "external_id": r["id"], "survey": r["survey"], "score": r["score"],
                "comment": r["comment"], "customer_id": r["customer_id"], "customer_name": r["customer_name"],
                "customer_email": r["customer_email"], "touchpoint": r["touchpoint"],
                "responded_at": r["responded_at"]}
        surveys.build_response(data)
