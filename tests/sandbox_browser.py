"""Debian's Chromium, driven by Playwright for Python, for the sandbox's browser tests and screenshots.

Never Playwright's own browser download: the executable is /usr/bin/chromium (`apt-get install
chromium`, which .ci/run does). Each launch gets a new, empty user-data directory, and no network
but 127.0.0.1 is touched (component updates, sync and background networking are off).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("CXLOOP_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def browser_env() -> dict[str, str]:
    """The environment for Chromium: this one without libfaketime (`make test-faketime` preloads it into
    pytest, and a browser must not inherit a clock 400 days ahead)."""
    return {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("FAKETIME")}


@contextmanager
def chromium(user_data_dir: Path, *, width: int = 1280, height: int = 800) -> Iterator[Any]:
    """A Playwright browser context on Debian's Chromium, with a new profile in `user_data_dir`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(user_data_dir), executable_path=str(CHROMIUM), args=ARGS, env=browser_env(),
            viewport={"width": width, "height": height}, timezone_id="Europe/London", locale="en-GB")
        try:
            yield context
        finally:
            context.close()
