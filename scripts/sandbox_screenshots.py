"""Take the README's screenshots of the sandbox (docs/sandbox-*.png) with Debian's Chromium.

    .venv/bin/python scripts/sandbox_screenshots.py [OUT_DIR]

It starts a sandbox on a temporary SQLite file, acts as the sample's people through the page (as
the browser tests do) and saves one PNG per main screen. Emoji need a colour emoji font
(`apt-get install fonts-noto-color-emoji`); with `pngquant` installed the PNGs are shrunk to a
quarter of their size.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from standins.sandbox import Sandbox  # noqa: E402
from tests.sandbox_browser import chromium  # noqa: E402


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="cxloop-shots-"))
    with Sandbox.in_thread(db_path=tmp / "sandbox.db") as sb, chromium(tmp / "profile") as browser:
        browser.set_default_timeout(20_000)
        page = browser.new_page()
        base = sb.page_url

        def shot(name: str) -> None:
            page.wait_for_timeout(600)
            path = out / f"sandbox-{name}.png"
            page.screenshot(path=str(path))
            if shutil.which("pngquant"):
                subprocess.run(["pngquant", "--quality=65-90", "--speed=1", "--force", "--output", str(path), str(path)],
                               check=True)
            print("wrote", path, f"({path.stat().st_size // 1024} KB)")

        def alert(case_id: int):  # type: ignore[no-untyped-def]
            return page.locator("#messages article.msg").filter(has_text=re.compile(rf"case #{case_id}(?!\d)")).first

        # Slack: Alice takes a case; its alert is edited in place and its history is in the thread.
        page.goto(f"{base}/#slack/U0ALICE/C0SUPPORT")
        alert(6).get_by_role("button", name="Take it").click()
        page.locator("#messages article.msg").filter(has_text="In progress").first.wait_for()
        alert(6).locator("button.replies").click()
        page.locator("#thread").get_by_text("took the case").wait_for()
        alert(6).scroll_into_view_if_needed()
        shot("slack-channel")

        # Her DM: the checklist; step 8's form refused next to its field.
        page.locator("#thread-close").click()
        page.locator("#sidebar [data-channel=dm]").click()
        dm = page.locator("#messages article.msg").filter(has_text="case #6").first
        modal = page.locator("#modal-root [role=dialog]")
        for n in range(1, 8):
            dm.get_by_role("button", name=re.compile(rf"^{n}\. ")).click()
            modal.wait_for()
            if n == 6:
                modal.get_by_label("The customer agreed to the proposed solution").check()
            modal.get_by_role("textbox").first.fill("Done with the customer.")
            modal.get_by_role("button", name="Mark done").click()
            modal.wait_for(state="detached")
        dm.get_by_role("button", name=re.compile(r"^8\. ")).click()
        modal.get_by_label("Root-cause area").select_option("processes")
        modal.get_by_label("What went wrong and how it is prevented").fill("   ")
        modal.get_by_role("button", name="Mark done").click()
        modal.locator(".sk-error").wait_for()
        shot("slack-modal")
        modal.get_by_role("button", name="Cancel").click()

        # Monday 09:00: the weekly digest, its chart in the thread.
        page.goto(f"{base}/#slack/U0MANAGER/C0SUPPORT")
        page.locator("#clock-button").click()
        page.get_by_role("button", name=re.compile("Monday 09:00")).click()
        page.locator("#clock-run").click()
        page.locator("#clock-result").get_by_text("It is now").wait_for()
        shot("clock")
        page.locator("[data-close=clock-panel]").click()
        digest = page.locator("#messages article.msg").filter(has_text="weekly digest").last
        digest.locator("button.replies").click()
        page.locator("#thread figure.file img").wait_for()
        page.wait_for_function("() => [...document.querySelectorAll('#thread img')].every(i => i.complete)")
        digest.locator(".sk-header").first.scroll_into_view_if_needed()
        page.locator("#thread figure.file img").scroll_into_view_if_needed()
        shot("slack-digest")

        # Teams: the same cases as Adaptive Cards, a step ticked in a dialog.
        page.goto(f"{base}/#teams/U0ALICE/19%3Asupport-cx%40thread.tacv2")
        card = page.locator("#messages .post-wrap").filter(has_text=re.compile(r"case #5(?!\d)")).first
        card.get_by_role("button", name="Take it").click()
        page.locator("#modal-root [role=dialog]").get_by_role("button", name="Close").click()
        card.get_by_text("In progress").wait_for()
        card.get_by_role("button", name=re.compile(r"^1\. Respond")).click()
        dialog = page.locator("#modal-root [role=dialog]")
        dialog.get_by_role("textbox").first.fill("Called Harpreet back within the hour.")
        card.scroll_into_view_if_needed()
        shot("teams")

        # A phone-width window.
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{base}/#slack/U0BOB/C0SUPPORT")
        alert(4).get_by_role("button", name="Take it").click()
        page.locator("#messages article.msg").filter(has_text="In progress").first.wait_for()
        alert(4).scroll_into_view_if_needed()
        shot("phone")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "docs")
