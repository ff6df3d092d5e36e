"""`cxloop demo` runs on a bare machine's defaults and shows the whole loop."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import cli_env


def test_demo_runs_the_scripted_day(tmp_path):
    # The demo runs on the machine's own clock (no CXLOOP_NOW): it is what a new user sees first.
    env = {k: v for k, v in cli_env().items() if not k.startswith(("SLACK_", "CXLOOP_", "DATABASE_URL", "OPENAI_"))}
    env["COLUMNS"] = "120"
    run = subprocess.run([sys.executable, "-m", "handlers.cli", "demo", "--fast", "--db", str(tmp_path / "demo.db")],
                         capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    out = " ".join(run.stdout.split())  # rich wraps lines to the terminal's width
    for line in ("Imported 600 responses", "POST /webhooks/generic → 202", "→ 200", "(no second case, no second alert)",
                 "has no owner yet: take it first", "took the case", "Step 8 of 8: Document the problem",
                 "Loop closed", "chat.postMessage", "Customer Support: weekly huddle", "needs a number",
                 "Improvement #1:", "Check-in 1: week 1 since the change began", "Chart uploaded in the thread: improvement-1-"):
        assert line in out, line
    assert "WARNING" not in run.stderr and "Traceback" not in run.stderr
    # the customer's broadcast attempt reached the terminal as text, and as escaped text on the wire
    assert "<!channel> this is a joke" in out
