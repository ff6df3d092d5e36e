"""The sandbox in a real browser: people click through Slack and Teams as the sandbox draws them, and
the real cxloop behind it answers (tests/sandbox_browser.py says how Chromium is launched).

Each test starts its own sandbox (a fresh SQLite file with the bundled sample) and drives the page
only as a person would: buttons, selects, modals, the message box, the clock and customer panels.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faketime_site.sitecustomize import under_faketime_with_real_monotonic
from tests.sandbox_browser import CHROMIUM, chromium

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}: apt-get install chromium "
                                                     "(.ci/run installs it) to run the browser tests"),
    # The sandbox always runs on its own SQLite file: the PostgreSQL session would repeat the same run.
    pytest.mark.sqlite_only,
    # Under faketime every clock read is intercepted and chart rendering runs about 6 times slower, so a
    # busy machine misses Slack's 3-second acknowledgement of a modal submission and the test measures
    # speed, not dates. The sandbox's clock and due work run under faketime in tests/test_sandbox_api.py.
    pytest.mark.skipif(under_faketime_with_real_monotonic(),
                       reason="browser tests run in the SQLite session, not under faketime"),
]

SUPPORT_SLACK = "C0SUPPORT"
SUPPORT_TEAMS = "19%3Asupport-cx%40thread.tacv2"
TIMEOUT_MS = 45_000  # generous: two shared cores, and moving the clock runs a week of due work (under faketime too)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Any]:
    from standins.sandbox import Sandbox

    with Sandbox.in_thread(db_path=tmp_path / "sandbox.db") as sb:
        yield sb


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        context.set_default_timeout(TIMEOUT_MS)
        yield context


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    page.close()
    assert not errors, f"the page raised: {errors}"


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    pw_expect.set_options(timeout=TIMEOUT_MS)
    return pw_expect(locator)


def open_as(page: Any, sandbox: Any, who: str, where: str, platform: str = "slack") -> None:
    page.goto(f"{sandbox.page_url}/#{platform}/{who}/{where}")
    expect(page.locator("#person")).to_have_value(who)


def act_as(page: Any, who: str) -> None:
    page.locator("#person").select_option(who)


def alert(page: Any, case_id: int) -> Any:
    """The case's alert in the Slack channel on screen."""
    return page.locator("#messages article.msg").filter(has_text=re.compile(rf"case #{case_id}(?!\d)")).first


def slack_modal(page: Any) -> Any:
    return page.locator("#modal-root [role=dialog]")


def take_in_slack(page: Any, case_id: int) -> None:
    card = alert(page, case_id)
    card.get_by_role("button", name="Take it").click()
    expect(card).to_contain_text("In progress")


# --- Slack ------------------------------------------------------------------------------------


def test_an_agent_takes_a_new_alert_and_watches_it_update_in_the_channel(sandbox, page):
    open_as(page, sandbox, "U0ALICE", SUPPORT_SLACK)
    # A customer answers a survey: the signed webhook, from the customer panel.
    page.locator("#customer-button").click()
    page.locator("#customer-score").fill("1")
    page.locator("#customer-comment").fill("Nobody called back, again.")
    page.locator("#customer-send").click()
    result = page.locator("#customer-result")
    expect(result).to_contain_text(re.compile(r"202: stored; case #\d+ opened"))
    case_id = int(re.search(r"case #(\d+)", result.inner_text()).group(1))
    page.locator("#customer-repeat").click()
    expect(result).to_contain_text("200: already stored")
    page.locator("[data-close=customer-panel]").click()

    card = alert(page, case_id)  # arrives without a reload
    expect(card).to_contain_text("Unclaimed")
    expect(card).to_contain_text("Nobody called back, again.")
    expect(card).to_contain_text("d…@example.com")
    expect(page.locator("#messages article.msg").filter(has_text=f"case #{case_id}")).to_have_count(1)

    card.get_by_role("button", name="Take it").click()
    expect(card).to_contain_text("In progress")
    expect(card).to_contain_text("@Alice Martin")
    expect(card).to_contain_text("(edited)")
    expect(card.get_by_role("button", name="Take it")).to_have_count(0)
    expect(page.locator("#messages article.msg").filter(has_text=f"case #{case_id}")).to_have_count(1)

    card.locator("button.replies").click()
    expect(page.locator("#thread")).to_contain_text("took the case")

    page.locator("#sidebar [data-channel=dm]").click()
    dm = page.locator("#messages article.msg").filter(has_text=f"case #{case_id}")
    expect(dm).to_contain_text("RESOLVED checklist")
    expect(dm.get_by_role("button", name=re.compile(r"^1\. Respond"))).to_be_visible()


STEPS = ["Respond", "Empathize", "Seek", "Be Open", "Listen", "Verify", "Eliminate", "Document"]


def test_an_owner_works_the_eight_resolved_steps_in_modals_and_a_refused_submission_says_why_by_its_field(
        sandbox, page):
    open_as(page, sandbox, "U0ALICE", SUPPORT_SLACK)
    take_in_slack(page, 1)
    page.locator("#sidebar [data-channel=dm]").click()
    dm = page.locator("#messages article.msg").filter(has_text="case #1").first
    modal = slack_modal(page)

    for n, name in enumerate(STEPS, start=1):
        dm.get_by_role("button", name=re.compile(rf"^{n}\. {name}", re.IGNORECASE)).click()
        expect(modal).to_contain_text(f"Case #1 · step {n}")
        if name == "Verify":
            # Slack itself refuses to send a required input left empty.
            modal.get_by_role("button", name="Mark done").click()
            expect(modal.locator("[data-block-id=customer_agreed] .sk-error")).to_have_text(
                "Please complete this required field.")
            modal.get_by_label("The customer agreed to the proposed solution").check()
        if name == "Document":
            modal.get_by_label("Root-cause area").select_option("processes")
            # A note of blanks passes Slack's check; cxloop refuses it, next to the field, and keeps the modal.
            modal.get_by_label("What went wrong and how it is prevented").fill("   ")
            modal.get_by_role("button", name="Mark done").click()
            expect(modal.locator("[data-block-id=note] .sk-error")).to_contain_text("is required")
            expect(modal.get_by_label("Root-cause area")).to_have_value("processes")
            modal.get_by_label("What went wrong and how it is prevented").fill("Callbacks were promised, never booked.")
        else:
            modal.get_by_role("textbox").first.fill(f"step {n} done with the customer")
        modal.get_by_role("button", name="Mark done").click()
        expect(modal).to_have_count(0)
        if n < 8:
            expect(dm.get_by_role("button", name=re.compile(rf"^{n + 1}\. "))).to_be_visible()

    expect(dm).to_contain_text("Resolved")
    dm.get_by_role("button", name="Close the loop").click()
    expect(modal).to_contain_text("Close loop #1")
    modal.get_by_label("How did you reach them?").select_option(index=1)
    # A time in the future is refused by cxloop, next to "When"; the picker starts at now.
    day, clock = modal.get_by_label("Date").input_value(), modal.get_by_label("Time").input_value()
    assert day == "2026-11-20", day
    modal.get_by_label("Date").fill("2026-12-24")
    modal.get_by_role("button", name="Loop closed").click()
    expect(modal.locator("[data-block-id=when] .sk-error")).to_contain_text("can't be closed in the future")
    modal.get_by_label("Date").fill(day)
    modal.get_by_label("Time").fill(clock)
    modal.get_by_role("button", name="Loop closed").click()
    expect(modal).to_have_count(0)
    expect(dm).to_contain_text("Loop closed")

    page.locator("#sidebar [data-channel=C0SUPPORT]").click()
    card = alert(page, 1)
    expect(card).to_contain_text("Loop closed")
    expect(card).to_contain_text("RESOLVED 8/8")


def test_another_agent_gets_a_refusal_only_they_can_see(sandbox, page):
    open_as(page, sandbox, "U0ALICE", SUPPORT_SLACK)
    take_in_slack(page, 2)
    act_as(page, "U0BOB")
    card = alert(page, 2)
    card.get_by_role("button", name=re.compile(r"^1\. Respond")).click()
    refusal = page.locator("#messages article.msg.ephemeral").filter(has_text="Only the case owner")
    expect(refusal).to_contain_text("Only visible to you")
    expect(slack_modal(page)).to_have_count(0)
    act_as(page, "U0ALICE")
    expect(page.locator("#person")).to_have_value("U0ALICE")
    expect(alert(page, 2)).to_contain_text("In progress")
    expect(page.locator("#messages article.msg.ephemeral")).to_have_count(0)


def test_a_manager_runs_cx_overdue_and_reads_the_answer(sandbox, page):
    open_as(page, sandbox, "U0MANAGER", SUPPORT_SLACK)
    # Two days on, the sample's open cases are past their respond-by time.
    page.locator("#clock-button").click()
    page.locator("#clock-at").fill("2026-11-22T16:00")
    page.locator("#clock-run").click()
    expect(page.locator("#clock-result")).to_contain_text("It is now Sun 22 Nov")
    page.locator("[data-close=clock-panel]").click()

    page.locator("#composer-input").fill("/cx overdue")
    page.locator("#composer-input").press("Enter")
    answer = page.locator("#messages article.msg.ephemeral").filter(has_text="/cx overdue")
    expect(answer).to_contain_text("Only visible to you")
    expect(answer).to_contain_text(re.compile(r"#1\b"))
    expect(answer).to_contain_text(re.compile("overdue", re.IGNORECASE))
    act_as(page, "U0ALICE")
    expect(page.locator("#messages article.msg.ephemeral")).to_have_count(0)


def test_moving_the_clock_to_monday_morning_posts_the_weekly_digest_with_its_chart(sandbox, page):
    open_as(page, sandbox, "U0MANAGER", SUPPORT_SLACK)
    page.locator("#clock-button").click()
    page.get_by_role("button", name=re.compile("Monday 09:00")).click()
    expect(page.locator("#clock-at")).to_have_value("2026-11-23T09:00")
    page.locator("#clock-run").click()
    expect(page.locator("#clock-result")).to_contain_text("It is now Mon 23 Nov")
    expect(page.locator("#clock-now")).to_contain_text("Mon 23 Nov")
    page.locator("[data-close=clock-panel]").click()

    digest = page.locator("#messages article.msg").filter(has_text="weekly digest").last
    expect(digest).to_contain_text("NPS")
    digest.locator("button.replies").click()
    chart = page.locator("#thread figure.file img")
    expect(chart).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 200", arg=chart.element_handle())


# --- Teams ------------------------------------------------------------------------------------


def teams_card(page: Any, case_id: int) -> Any:
    return page.locator("#messages .post-wrap").filter(has_text=re.compile(rf"case #{case_id}(?!\d)")).first


def test_in_teams_an_agent_takes_a_card_and_ticks_a_step_in_a_dialog(sandbox, page):
    from standins.sandbox.api import renderer_installed

    assert renderer_installed(sandbox), ("Microsoft's Adaptive Cards renderer is not installed: run "
                                         "`make sandbox-assets` (npm), as `make test` does when npm is there")
    open_as(page, sandbox, "U0ALICE", SUPPORT_TEAMS, platform="teams")
    card = teams_card(page, 5)
    expect(card.locator(".teams-card")).to_be_visible()  # drawn by Microsoft's renderer
    expect(card).to_contain_text("Unclaimed")

    card.get_by_role("button", name="Take it").click()
    dialog = page.locator("#modal-root [role=dialog]")
    expect(dialog).to_contain_text("You took case #5")
    dialog.get_by_role("button", name="Close").click()
    expect(card).to_contain_text("In progress")
    expect(card).to_contain_text("Edited")
    expect(card).to_contain_text("Alice Martin")

    card.get_by_role("button", name=re.compile(r"^1\. Respond")).click()
    expect(dialog).to_contain_text("Step 1 of 8")
    dialog.get_by_role("textbox").first.fill("Called them within the hour.")
    dialog.get_by_role("button", name="Mark done").click()
    expect(dialog).to_have_count(0)
    expect(card).to_contain_text("RESOLVED 1/8")
    expect(card.get_by_role("button", name=re.compile(r"^2\. Empathi"))).to_be_visible()

    # Bob, in the same team, is refused in a dialog only he sees.
    act_as(page, "U0BOB")
    card = teams_card(page, 5)
    card.get_by_role("button", name=re.compile(r"^2\. Empathi")).click()
    expect(dialog).to_contain_text("Only the case owner")
    dialog.get_by_role("button", name="Close").click()
    act_as(page, "U0ALICE")
    expect(dialog).to_have_count(0)

    # The same case, on the Slack side: one loop, both platforms.
    page.locator("#platform-slack").click()
    page.locator("#sidebar [data-channel=C0SUPPORT]").click()
    expect(alert(page, 5)).to_contain_text("@Alice Martin")


# --- a phone ----------------------------------------------------------------------------------


def test_on_a_phone_width_window_the_channels_are_a_drawer_and_a_modal_fills_the_screen(sandbox, page):
    page.set_viewport_size({"width": 390, "height": 844})
    open_as(page, sandbox, "U0MANAGER", "C0BILLING")
    expect(page.locator("#sidebar")).not_to_be_in_viewport()
    page.locator("#menu").click()
    page.locator("#sidebar [data-channel=C0SUPPORT]").click()
    expect(page.locator("#channel-name")).to_have_text("#support")
    expect(page.locator("#sidebar")).not_to_be_in_viewport()
    card = alert(page, 4)
    card.get_by_role("button", name="Not actionable").click()
    modal = slack_modal(page)
    expect(modal).to_be_visible()
    box = modal.bounding_box()
    assert box is not None and box["width"] >= 389, box
    modal.get_by_role("button", name="Cancel").click()
    expect(modal).to_have_count(0)
