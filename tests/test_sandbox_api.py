"""The sandbox's HTTP API, without a browser: what a person sees and what their clicks send to cxloop.

Each test starts a sandbox (the real cxloop server on a fresh SQLite file with the bundled sample,
the Slack and Bot Connector stand-ins) and talks to the page's API as the page does.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from standins.sandbox import Sandbox, SandboxClock
from standins.sandbox.world import START
from tests.conftest import cli_env

# The sandbox always runs on its own SQLite file: the PostgreSQL session would repeat the same run.
pytestmark = pytest.mark.sqlite_only

SUPPORT = "C0SUPPORT"
TEAMS_SUPPORT = "19:support-cx@thread.tacv2"


class Page:
    """What the sandbox page does, over HTTP."""

    def __init__(self, sb: Sandbox, http: aiohttp.ClientSession):
        self.sb, self.http = sb, http

    async def get(self, path: str) -> Any:
        async with self.http.get(self.sb.page_url + path) as r:
            assert r.status == 200, (path, r.status, await r.text())
            return await r.json()

    async def post(self, path: str, body: dict[str, Any], *, status: int = 200) -> Any:
        async with self.http.post(self.sb.page_url + path, json=body) as r:
            answer = await r.json()
            assert r.status == status, (path, r.status, answer)
            return answer

    async def slack(self, who: str, channel: str = SUPPORT) -> dict[str, Any]:
        await self.sb.settle()
        return await self.get(f"/api/slack/view?as={who}&channel={channel}")

    async def alert(self, who: str, case_id: int) -> dict[str, Any]:
        view = await self.slack(who)
        return next(m for m in view["messages"] if f"case #{case_id}" in m.get("text", "") and not m.get("ephemeral"))

    async def click(self, who: str, case_id: int, action_id: str, **extra: Any) -> None:
        m = await self.alert(who, case_id)
        await self.post("/api/slack/action", {"as": who, "where": {"kind": "message", "channel": SUPPORT, "ts": m["ts"]},
                                              "action_id": action_id, **extra})
        await self.sb.settle()


@pytest.fixture
async def page(tmp_path: Path):
    async with Sandbox(db_path=tmp_path / "sandbox.db") as sb, aiohttp.ClientSession() as http:
        await sb.settle()
        yield Page(sb, http)


def shown(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks") or [], ensure_ascii=False) + (message.get("text") or "")


# --- where it listens, what it serves ---------------------------------------------------------


async def test_everything_the_sandbox_starts_listens_on_127_0_0_1_only(page):
    sb = page.sb
    for url in (sb.page_url, sb.cx_url, sb.slack.url, sb.teams.url):
        assert url.startswith("http://127.0.0.1:"), url
    for runner in sb._runners:
        assert {addr[0] for addr in runner.addresses} == {"127.0.0.1"}
    with pytest.raises(ValueError, match="127.0.0.1 only"):
        Sandbox(host="0.0.0.0")


async def test_the_page_is_served_and_the_card_renderer_comes_from_the_npm_packages_or_says_how_to_get_them(
        page, tmp_path):
    async with page.http.get(page.sb.page_url + "/") as r:
        assert r.status == 200 and "cxloop sandbox" in await r.text()
    for path in ("/static/sandbox.js", "/static/blockkit.js", "/static/teams.js", "/static/sandbox.css"):
        async with page.http.get(page.sb.page_url + path) as r:
            assert r.status == 200, path
    page.sb.node_modules = tmp_path / "nothing-installed"
    async with page.http.get(page.sb.page_url + "/vendor/adaptivecards.min.js") as r:
        assert r.status == 404 and "run `make sandbox`" in await r.text()
    assert (await page.get("/api/world"))["renderer"] is False
    async with page.http.get(page.sb.page_url + "/vendor/..%2f..%2fworld.py") as r:
        assert r.status == 404


async def test_the_world_lists_the_sample_people_with_their_roles_and_the_clock_with_the_next_digest(page):
    world = await page.get("/api/world")
    people = {p["id"]: p for p in world["people"]}
    assert people["U0MANAGER"]["role"] == "manager" and people["U0MANAGER"]["manages"] == ["support"]
    assert people["U0ADMIN"]["role"] == "admin"
    assert people["U0ALICE"]["role"] == "agent" and people["U0ALICE"]["teams"] == ["support"]
    assert world["clock"]["now"].startswith("2026-11-20T15:3")
    presets = {p["label"]: p["at"] for p in world["clock"]["presets"]}
    assert presets["Monday 09:00: the weekly digest"] == "2026-11-23T09:00:00+00:00"
    assert "Customer Service Week 2027" in presets
    assert world["sample"]["cases_opened"] >= 5


# --- Slack ------------------------------------------------------------------------------------


async def test_a_click_is_the_signed_request_slack_sends_and_the_alert_is_edited_in_place(page):
    before = await page.alert("U0ALICE", 1)
    await page.click("U0ALICE", 1, "case_take")
    after = await page.alert("U0ALICE", 1)
    assert after["ts"] == before["ts"] and after.get("edited")
    assert "In progress" in shown(after) and "<@U0ALICE>" in shown(after)
    # Bolt checked the signature: a tampered request would have changed nothing.
    body = page.sb.sender.action_body("U0BOB", "case_take", message=before, channel=SUPPORT)
    reply = await page.sb.sender.post(body, "application/x-www-form-urlencoded",
                                      signature="v0=" + "0" * 64)
    assert reply.status == 401


async def test_a_modal_opens_only_for_whoever_clicked_and_a_refused_submission_keeps_it_open_with_the_error(page):
    await page.click("U0MANAGER", 2, "case_dismiss")
    modal = (await page.slack("U0MANAGER"))["modal"]
    assert modal["title"]["text"] == "Not actionable #2"
    assert (await page.slack("U0ALICE"))["modal"] is None

    answer = await page.post("/api/slack/submit", {"as": "U0MANAGER", "view_id": modal["id"], "values": {"reason": "  "}})
    assert answer == {"closed": False, "errors": {"reason": "Say why the case is not actionable (a reason is required)."}}
    still = (await page.slack("U0MANAGER"))["modal"]
    assert still["id"] == modal["id"] and still["errors"] == answer["errors"]
    assert "Unclaimed" in shown(await page.alert("U0MANAGER", 2))

    answer = await page.post("/api/slack/submit", {"as": "U0MANAGER", "view_id": modal["id"],
                                                   "values": {"reason": "A test answer from our own staff."}})
    assert answer == {"closed": True, "errors": {}}
    assert (await page.slack("U0MANAGER"))["modal"] is None
    assert "Not actionable" in shown(await page.alert("U0MANAGER", 2))

    bad = await page.post("/api/slack/submit", {"as": "U0MANAGER", "view_id": modal["id"], "values": {}}, status=400)
    assert bad == {"error": "that modal is not open"}


async def test_a_refusal_is_an_ephemeral_message_only_its_person_sees(page):
    await page.click("U0ALICE", 4, "case_take")
    await page.click("U0BOB", 4, "case_step")
    bob = [m for m in (await page.slack("U0BOB"))["messages"] if m.get("ephemeral")]
    assert [m["text"] for m in bob] == ["Only the case owner or a manager of the support team can tick steps on case #4."]
    assert not [m for m in (await page.slack("U0ALICE"))["messages"] if m.get("ephemeral")]
    assert (await page.slack("U0BOB"))["modal"] is None


async def test_cx_answers_reach_whoever_typed_them_and_kudos_mentions_become_slack_mentions(page):
    await page.post("/api/slack/command", {"as": "U0MANAGER", "channel": SUPPORT, "text": "/cx overdue"})
    mine = [m for m in (await page.slack("U0MANAGER"))["messages"] if m.get("command") == "/cx overdue"]
    assert len(mine) == 1 and mine[0]["ephemeral"] and "overdue" in shown(mine[0]).lower()
    assert not [m for m in (await page.slack("U0ALICE"))["messages"] if m.get("command")]

    await page.post("/api/slack/command", {"as": "U0ALICE", "channel": SUPPORT,
                                           "text": "/cx kudos @Bob Okafor for covering my calls"})
    kudos = [m for m in (await page.slack("U0CARLOS"))["messages"] if "covering my calls" in shown(m)]
    assert len(kudos) == 1 and "<@U0BOB>" in shown(kudos[0]) and not kudos[0].get("ephemeral")

    wrong = await page.post("/api/slack/command", {"as": "U0ALICE", "channel": SUPPORT, "text": "hello"}, status=400)
    assert "type /cx" in wrong["error"]


async def test_the_app_home_is_published_when_opened_and_its_buttons_send_view_actions(page):
    await page.click("U0ALICE", 5, "case_take")
    await page.post("/api/slack/home", {"as": "U0ALICE"})
    view = await page.slack("U0ALICE", "home")
    assert view["home"] is not None and "Your cases (1)" in shown(view["home"])
    assert (await page.slack("U0BOB", "home"))["home"] is None  # Bob never opened it


# --- the customer, the clock, updates -------------------------------------------------------


async def test_the_customer_panel_signs_its_webhook_and_a_repeat_opens_no_second_case(page):
    first = await page.post("/api/customer", {"survey": "nps", "score": 2, "comment": "Never again.", "name": "Dana Reyes",
                                              "email": "dana@example.com", "touchpoint": "phone"})
    assert first["status"] == 202 and first["answer"]["case_id"]
    again = await page.post("/api/customer", {"repeat": True})
    assert again["status"] == 200 and again["sent"] == first["sent"]
    view = await page.slack("U0ALICE")
    assert len([m for m in view["messages"] if f"case #{first['answer']['case_id']}" in m.get("text", "")]) == 1
    # cxloop checks the signature: the sandbox configures a webhook secret, so an unsigned answer is refused.
    async with page.http.post(page.sb.cx_url + "/webhooks/generic", data=json.dumps(first["sent"]).encode(),
                              headers={"Content-Type": "application/json"}) as r:
        assert r.status == 401
    bad = await page.post("/api/customer", {"score": "ten"}, status=400)
    assert bad == {"error": "score must be a whole number"}


async def test_moving_the_clock_runs_due_work_at_that_instant_and_never_goes_back(page):
    answer = await page.post("/api/clock", {"at": "2026-11-23T09:00"})  # the workspace's time (London)
    assert answer["ran_at"].startswith("2026-11-23T09:00")  # the clock runs on while the work is done
    assert answer["now"] >= answer["ran_at"]
    assert answer["summary"]["queued"]["digest"] == 3  # one per team
    messages = (await page.slack("U0MANAGER"))["messages"]
    digest = next(m for m in messages if "weekly digest" in m.get("text", ""))
    charts = [f for m in messages if m.get("thread_ts") == digest["ts"] for f in m.get("files") or []]
    assert len(charts) == 1 and charts[0]["mimetype"] == "image/png"
    async with page.http.get(page.sb.page_url + charts[0]["url_private"]) as r:
        assert r.status == 200 and r.content_type == "image/png" and (await r.read())[:4] == b"\x89PNG"

    back = await page.post("/api/clock", {"at": "2026-11-20T16:00:00Z"}, status=400)
    assert back["error"].startswith("the clock only moves forward")
    bad = await page.post("/api/clock", {"at": "Monday"}, status=400)
    assert "not an ISO-8601 instant" in bad["error"]


async def test_the_page_hears_of_each_change_as_a_server_sent_event(page):
    async with page.http.get(page.sb.page_url + "/api/events") as r:
        assert r.content_type == "text/event-stream"

        async def next_change() -> str:
            while True:
                line = (await r.content.readline()).decode()
                if line.startswith("event: change"):
                    return line

        await asyncio.wait_for(next_change(), 5)  # the current state, at once
        await page.post("/api/customer", {"survey": "csat", "score": 1, "touchpoint": "billing"})
        await asyncio.wait_for(next_change(), 5)


async def test_bad_requests_say_what_is_wrong(page):
    assert (await page.post("/api/slack/action", {"as": "U0ALICE"}, status=400)) == {
        "error": "missing: where, action_id"}
    assert "nobody in the sample workspace has the id 'U0NOBODY'" in (
        await page.post("/api/slack/command", {"as": "U0NOBODY", "channel": SUPPORT, "text": "/cx help"}, status=400))["error"]
    async with page.http.get(page.sb.page_url + "/api/slack/view") as r:
        assert r.status == 400 and (await r.json())["error"] == "say who is looking: ?as=U0ALICE"
    async with page.http.post(page.sb.page_url + "/api/clock", data=b"{nope") as r:
        assert r.status == 400 and (await r.json())["error"] == "the body is not JSON"
    where = {"kind": "message", "channel": "C0BILLING", "ts": "1.000000"}
    assert "no message 1.000000" in (await page.post("/api/slack/action", {"as": "U0ALICE", "where": where,
                                                                           "action_id": "case_take"}, status=400))["error"]


# --- Teams ------------------------------------------------------------------------------------


async def test_in_teams_a_button_opens_a_dialog_and_a_refusal_is_a_message_only_the_clicker_sees(page):
    sb = page.sb

    async def card(case_id: int) -> dict[str, Any]:
        await sb.settle()
        view = await page.get(f"/api/teams/view?as=U0ALICE&conversation={TEAMS_SUPPORT}")
        return next(m for m in view["messages"] if m["card"] and f"case #{case_id}" in json.dumps(m["card"]))

    def click(who: str, activity: dict[str, Any], title: str) -> Any:
        return page.post("/api/teams/click", {"as": who, "conversation": TEAMS_SUPPORT, "activity": activity["id"],
                                              "title": title})

    taken = await click("U0ALICE", await card(6), "Take it")
    assert taken["message"].startswith("You took case #6")
    step = await click("U0ALICE", await card(6), "1. Respond")
    dialog = step["dialog"]
    assert dialog["title"].startswith("Case #6") and dialog["card"]["type"] == "AdaptiveCard"
    shown_dialog = (await page.get(f"/api/teams/view?as=U0ALICE&conversation={TEAMS_SUPPORT}"))["dialog"]
    assert shown_dialog["id"] == dialog["id"]
    assert (await page.get(f"/api/teams/view?as=U0BOB&conversation={TEAMS_SUPPORT}"))["dialog"] is None
    done = await page.post("/api/teams/submit", {"as": "U0ALICE", "dialog": dialog["id"], "inputs": {"note": "Called."}})
    assert done == {"status": 200, "closed": True}
    assert "RESOLVED 1/8" in json.dumps(await card(6), ensure_ascii=False)

    refused = await click("U0BOB", await card(6), "2. Empathi")
    assert refused["message"] == "Only the case owner or a manager of the support team can tick steps on case #6."

    # A refused dialog comes back with the reason just above its field, in place of the dialog sent.
    form = (await click("U0MANAGER", await card(2), "Not actionable"))["dialog"]
    again = await page.post("/api/teams/submit", {"as": "U0MANAGER", "dialog": form["id"], "inputs": {"reason": " "}})
    body = again["dialog"]["card"]["body"]
    warning = next(i for i, el in enumerate(body) if "⚠" in json.dumps(el, ensure_ascii=False))
    assert "a reason is required" in json.dumps(body[warning]) and body[warning + 1]["id"] == "reason"
    shown_now = (await page.get(f"/api/teams/view?as=U0MANAGER&conversation={TEAMS_SUPPORT}"))["dialog"]
    assert shown_now["id"] == again["dialog"]["id"] != form["id"]
    # The same case on Slack, edited there too: one loop, both platforms.
    assert "<@U0ALICE>" in shown(await page.alert("U0BOB", 6))


async def test_cx_in_a_teams_chat_installs_the_app_for_that_person_and_answers_there(page):
    await page.post("/api/teams/message", {"as": "U0PRIYA", "conversation": "chat", "text": "cx help"})
    await page.sb.settle()
    view = await page.get("/api/teams/view?as=U0PRIYA&conversation=chat")
    said = [m for m in view["messages"] if not m["bot"]]
    answers = [m for m in view["messages"] if m["bot"]]
    assert [m["text"] for m in said] == ["cx help"]
    assert any("cx mine" in json.dumps(m["card"]) for m in answers)
    assert not (await page.get("/api/teams/view?as=U0TOM&conversation=chat"))["messages"]


# --- the clock and the command ----------------------------------------------------------------


def test_the_sandbox_clock_reads_a_stand_in_timestamp_as_the_sandbox_time_it_was_made_at(monkeypatch):
    import time as wall

    now = [1_000_000.0]
    monkeypatch.setattr(wall, "time", lambda: now[0])
    clock = SandboxClock(START)
    now[0] += 60
    assert clock() == START + timedelta(minutes=1)
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
    clock.jump(monday)
    now[0] += 30
    assert clock() == monday + timedelta(seconds=30)
    assert clock.at_wall(1_000_030.0) == START + timedelta(seconds=30)  # made before the jump
    assert clock.at_wall(1_000_075.0) == monday + timedelta(seconds=15)  # after it
    with pytest.raises(ValueError, match="only moves forward"):
        clock.jump(START)


def test_cxloop_sandbox_says_when_its_port_is_taken(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run([sys.executable, "-m", "handlers.cli", "sandbox", "--port", str(port),
                              "--db", str(tmp_path / "s.db")], env=cli_env(), capture_output=True, text=True,
                             timeout=120)
    assert run.returncode == 2, run.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in run.stderr
