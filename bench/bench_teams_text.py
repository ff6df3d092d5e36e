"""Benchmark: reading a Teams command out of hostile markup (not a test).

    .venv/bin/python bench/bench_teams_text.py           # ~1 min (the old patterns are slow on purpose)
    .venv/bin/python bench/bench_teams_text.py --quick   # ~5 s, without the 100 KB rows of the old patterns

Times `handlers.teams.bot.command_line` (the mention and tag clean-up every Teams message goes through)
on text made of `<`, of unclosed `<at>`, and of a normal command, at 2,000, 8,000 (the cap,
MAX_COMMAND_TEXT) and 100,000 characters, beside the patterns it used before (`<[^>]+>` and
`<at>(.*?)</at>`), which try every `<` against the rest of the text. Doubling the length should
double the time (linear); the old patterns quadruple it. Above the cap cxloop refuses the message
before any parsing, so the 100,000-character rows show what that cap (and the new patterns) saves.
"""

from __future__ import annotations

import argparse
import html
import re
import time

from _common import table  # noqa: F401  (importing _common puts the project on sys.path)

OLD_AT = re.compile(r"<at>(.*?)</at>", re.IGNORECASE | re.DOTALL)
OLD_TAGS = re.compile(r"<[^>]+>")


def old_clean(text: str) -> str:
    text = OLD_AT.sub(lambda m: m.group(1), text)
    return html.unescape(OLD_TAGS.sub(" ", text))


def timed(fn, *args) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="skip the old patterns on 100,000 characters")
    args = parser.parse_args()

    from botbuilder.schema import Activity, ChannelAccount

    from handlers.teams.bot import MAX_COMMAND_TEXT, command_line

    inputs = {
        "<<<<": lambda n: "<" * n,
        "<at><at>": lambda n: "<at>" * (n // 4),
        "normal": lambda n: ("<at>cxloop</at> cx kudos <at>Bob</at> for <b>the</b> fix " * n)[:n],
    }
    rows = []
    for name, make in inputs.items():
        for n in (2_000, MAX_COMMAND_TEXT, 100_000):
            text = make(n)
            activity = Activity(type="message", text=text, recipient=ChannelAccount(id="28:bot"))
            # Past the cap, the current patterns on the whole text (command_line itself would cut it first).
            new = timed(lambda: command_line(activity) if n <= MAX_COMMAND_TEXT else _uncapped(text))
            old = float("nan") if (args.quick and n > MAX_COMMAND_TEXT) else timed(old_clean, text)
            rows.append([f"{name} × {n:,}", new * 1000, old * 1000, old / new if new else float("nan")])
    print(table(["input", "now (ms)", "before (ms)", "before ÷ now"], rows))
    print(f"\nAbove {MAX_COMMAND_TEXT:,} characters cxloop answers 'too long' without parsing: 0 ms of pattern work.")


def _uncapped(text: str) -> str:
    """The current patterns on the whole text (as if there were no cap)."""
    from handlers.teams.bot import _AT, _TAGS

    return html.unescape(_TAGS.sub(" ", _AT.sub(lambda m: m.group(1), text)))


if __name__ == "__main__":
    main()
