"""The demo's outer-loop scene: a huddle finds what keeps going wrong, Alice starts an improvement from
it, and a week later cxloop posts the first check-in with its chart (handlers/demo.py runs it)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from standins.slack_sender import SlackSender
from standins.terminal import call_panel

if TYPE_CHECKING:
    from handlers.demo import Demo

HAPPY = ["Great service, thanks", "Lovely friendly agent, sorted it first time", "Very helpful and kind"]


def _by_key(demo: Demo, channel: str, key: str) -> dict[str, Any]:
    return next(m for m in demo.slack.messages(channel)
                if ((m.get("metadata") or {}).get("event_payload") or {}).get("key") == key)


async def outer_loop(demo: Demo, sender: SlackSender, settings: Any) -> None:
    from bot.improvement.enums import ImproveAction
    from bot.intake.store import record_response
    from bot.intake.surveys import build_response
    from handlers.jobs import run_due

    c = demo.console
    support = next(t for t in demo.ws.teams if t.key == "support")
    channel = support.slack_channel or ""

    demo.scene("7 · The outer loop: Morgan posts the support team's huddle")
    sender.response_base = demo.slack.response_base  # `/cx` answers go to the stand-in's response URLs
    await sender.command("U0MANAGER", "huddle support", channel=channel)
    await demo.settle()
    demo.show_new_calls(methods=("chat.postMessage",), limit=1)
    post = next(m for m in demo.slack.messages(channel) if str(
        ((m.get("metadata") or {}).get("event_payload") or {}).get("key", "")).startswith("slack:huddle:support:"))
    if "quiet week" in str(post.get("text", "")):
        c.print("[dim]A quiet week: nothing to start an improvement from.[/dim]")
        return

    demo.scene("8 · Alice starts an improvement from the top pattern (a SMART target: a number and a date)")
    await sender.click("U0ALICE", post, ImproveAction.START.value, channel=channel)
    await demo.rt.wait_idle()
    modal = demo.slack.calls_to("views.open")[-1].body["view"]
    c.print(call_panel("views.open", {"view": modal}, demo.names, demo.channels))
    initial = {b["block_id"]: (b["element"].get("initial_value") or
                               (b["element"].get("initial_option") or {}).get("value"))
               for b in modal["blocks"] if b.get("type") == "input"}
    metric = initial.get("metric") or "nps"
    values = {**initial, "problem": "Customers are promised callbacks that never come, and call again.",
              "owner": "U0ALICE", "target": "soon",
              "target_date": int((demo.clock.now + timedelta(days=56)).timestamp())}
    refused = await sender.submit("U0ALICE", modal, values)
    c.print(f"Target “soon” → {refused.json().get('errors')}")
    values["target"] = "5%" if metric == "theme_share" else "40"
    await sender.submit("U0ALICE", modal, values)
    await demo.settle()
    demo.show_new_calls(methods=("chat.postMessage",), limit=1)
    imp_key = "slack:improvement:1"

    demo.scene("9 · A plan action, and the change begins (Do)")
    await sender.click("U0ALICE", _by_key(demo, channel, imp_key), ImproveAction.ADD_ACTION.value, channel=channel)
    await demo.rt.wait_idle()
    await sender.submit("U0ALICE", demo.slack.calls_to("views.open")[-1].body["view"],
                        {"title": "Log every callback promise in the tracker", "owner": "U0ALICE",
                         "due": int((demo.clock.now + timedelta(days=3)).timestamp())})
    await demo.settle()
    await sender.click("U0ALICE", _by_key(demo, channel, imp_key), ImproveAction.MOVE.value, channel=channel)
    await demo.rt.wait_idle()
    await sender.submit("U0ALICE", demo.slack.calls_to("views.open")[-1].body["view"],
                        {"to": "do", "note": "Tracker live for the phone team from today."})
    await demo.settle()
    demo.seen = len(demo.slack.calls)
    c.print(call_panel("chat.update", {**_by_key(demo, channel, imp_key), "channel": channel}, demo.names,
                       demo.channels))

    demo.scene("10 · A week later: the first check-in, with its chart")
    began = demo.clock.now
    for i in range(24):
        at = began + timedelta(hours=6 * i + 1)
        record_response(demo.engine, demo.ws, build_response({
            "source": "generic", "external_id": f"r-outer-{i}", "survey": "nps", "score": 10 if i % 6 else 4,
            "comment": HAPPY[i % 3] if i % 6 else "Waited on hold again", "touchpoint": "phone",
            "responded_at": at.isoformat()}, now=at), now=at)
    demo.clock.now = began + timedelta(days=7)
    await run_due(demo.engine, demo.ws, settings, at=demo.clock.now, deliverer=demo.deliverer)
    await demo.deliverer.drain(now=demo.clock.now)
    root = _by_key(demo, channel, imp_key)
    thread = [m for m in demo.slack.messages(channel) if m.get("thread_ts") == root["ts"] and m["ts"] != root["ts"]]
    for m in thread:
        if "Check-in" in str(m.get("text", "")):
            c.print(call_panel("chat.postMessage", {**m, "channel": channel, "thread_ts": m["thread_ts"]},
                               demo.names, demo.channels))
    charts = [f["name"] for f in demo.slack.files.values() if f["name"].startswith("improvement-")]
    c.print(f"Chart uploaded in the thread: {', '.join(charts) or 'none'} (8 weeks, a line where the change began).")
    demo.seen = len(demo.slack.calls)
