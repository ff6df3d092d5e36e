"""`cxloop demo`: the bundled sample through the real server and a local Slack stand-in, narrated."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
from aiohttp import web
from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from bot.config import DATA, Settings, load_workspace
from bot.machinery.runtime import Runtime
from bot.people.roster import sync_workspace
from bot.reporting.scores import compute_scores
from handlers.demo_outer import outer_loop
from handlers.intake.signing import sign_generic
from handlers.serve import build_services
from handlers.server import build_web_app
from standins.slack_api import SlackStandIn
from standins.slack_sender import SlackSender
from standins.terminal import call_panel
from storage.db import make_engine, session_scope, upgrade

SAMPLE = DATA / "sample_responses.csv"
# The sample ends on Friday 20 November 2026; the demo's day is that Friday afternoon.
DEMO_START = datetime(2026, 11, 20, 15, 30, tzinfo=timezone.utc)
TOKEN, SIGNING, WEBHOOK = "xoxb-demo", "demo-signing-secret", "demo-webhook-secret"


class DemoClock:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def run_demo(settings: Settings, *, db_path: str = "cxloop-demo.db", fast: bool = False) -> int:
    return asyncio.run(Demo(settings, Path(db_path), fast=fast).run())


class Demo:
    def __init__(self, settings: Settings, db_path: Path, *, fast: bool):
        self.console = Console()
        self.db_path = db_path
        self.fast = fast
        self.base_settings = settings
        self.seen = 0

    def pause(self, seconds: float = 0.8) -> None:
        if not self.fast:
            time.sleep(seconds)

    def scene(self, title: str) -> None:
        self.console.print()
        self.console.print(Rule(f"[bold]{title}"))
        self.pause()

    def show_new_calls(self, *, limit: int | None = None, methods: tuple[str, ...] = (
            "chat.postMessage", "chat.update", "chat.postEphemeral", "views.open")) -> list:
        calls = [c for c in self.slack.calls[self.seen:] if c.method in methods and c.status == 200]
        self.seen = len(self.slack.calls)
        for c in calls[:limit]:
            self.console.print(call_panel(c.method, c.body, self.names, self.channels))
        if limit is not None and len(calls) > limit:
            per = Counter(self.channels.get(c.body.get("channel"), "DM") for c in calls[limit:])
            self.console.print(f"[dim]…and {len(calls) - limit} more: "
                               + ", ".join(f"{n} in {ch}" for ch, n in sorted(per.items())) + "[/dim]")
        return calls

    async def settle(self) -> None:
        await self.rt.wait_idle()
        await self.deliverer.drain()

    async def run(self) -> int:
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.db_path) + suffix).unlink(missing_ok=True)
        url = f"sqlite:///{self.db_path}"
        upgrade(url)
        self.engine = make_engine(url)
        self.ws = load_workspace(self.base_settings.cxloop_config)
        with session_scope(self.engine) as s:
            sync_workspace(s, self.ws)
        self.names = {uid: p.name for uid, p in self.ws.people.items()}
        self.channels = {t.slack_channel: f"#{t.key}" for t in self.ws.teams if t.slack_channel}
        self.clock = DemoClock(DEMO_START)
        async with SlackStandIn(token=TOKEN) as slack:
            self.slack = slack
            for uid, p in self.ws.people.items():
                slack.add_user(uid, name=p.name, tz=p.tz or "UTC")
            settings = Settings(database_url=url, slack_bot_token=TOKEN, slack_signing_secret=SIGNING,
                                slack_api_url=slack.api_url, cxloop_webhook_secret=WEBHOOK,
                                # Local traffic only: the demo's other survey tools have no secrets.
                                cxloop_allow_unsigned_webhooks=True,
                                cxloop_config=self.base_settings.cxloop_config)
            self.settings = settings
            self.rt = Runtime(engine=self.engine, workspace=self.ws, settings=settings, clock=self.clock)
            services = build_services(self.engine, self.ws, settings, runtime=self.rt)
            services.run_worker = False
            assert services.deliverer is not None
            self.deliverer = services.deliverer
            self.deliverer.ports["slack"].per_channel_gap = 0.0  # type: ignore[attr-defined]
            runner = web.AppRunner(build_web_app(services), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            self.base = f"http://127.0.0.1:{port}"
            try:
                async with aiohttp.ClientSession() as http, \
                        SlackSender(f"{self.base}/slack/events", SIGNING, session=http) as sender:
                    await self.script(http, sender)
            finally:
                await runner.cleanup()
        return 0

    async def script(self, http: aiohttp.ClientSession, sender: SlackSender) -> None:
        c = self.console
        c.print(Rule("[bold]cxloop demo"))
        c.print(f"cxloop is serving on {self.base} with a local Slack stand-in at {self.slack.url}.\n"
                f"Database: {self.db_path} (SQLite). Workspace: {len(self.ws.teams)} teams — "
                + ", ".join(f"{t.title} ({self.channels.get(t.slack_channel, '-')})" for t in self.ws.teams)
                + f".\nThe demo's clock reads {self.clock.now:%A %d %B %Y, %H:%M} UTC.")

        self.scene("1 · Twelve weeks of survey answers arrive")
        from bot.intake.csv_import import import_csv

        report = import_csv(self.engine, self.ws, SAMPLE, mapping=None, open_cases="recent", now=self.clock.now)
        c.print(f"Imported {report.imported} responses from {SAMPLE.name} "
                f"({report.duplicate} duplicate, {report.rejected} rejected). Detractors from the last few days "
                f"opened {report.cases_opened} cases; older ones are history, scored but not alerted.")
        self.scores_table()

        self.scene("2 · Every recent detractor becomes an alert in its team's channel")
        await self.settle()
        self.show_new_calls(limit=2)

        self.scene("3 · A new answer comes in through the webhook")
        self.clock.advance(minutes=5)
        payload = {"id": "r-demo-1", "survey": "nps", "score": 2,
                   "comment": "Third time I've called about the same broken router. Nobody calls back when they "
                              "promise to. <!channel> this is a joke & I'm done.",
                   "customer": {"id": "c-9001", "name": "Dana Reyes", "email": "dana@example.com"},
                   "touchpoint": "phone", "responded_at": self.clock.now.isoformat().replace("+00:00", "Z")}
        body = json.dumps(payload).encode()
        async with http.post(f"{self.base}/webhooks/generic", data=body, headers={
                "Content-Type": "application/json", "X-Cxloop-Signature": sign_generic(body, WEBHOOK)}) as r:
            answer = await r.json()
            c.print(f"POST /webhooks/generic → [bold]{r.status}[/bold] {answer}")
        async with http.post(f"{self.base}/webhooks/generic", data=body, headers={
                "Content-Type": "application/json", "X-Cxloop-Signature": sign_generic(body, WEBHOOK)}) as r:
            c.print(f"The survey tool retries the same delivery → [bold]{r.status}[/bold] {await r.json()} "
                    "(no second case, no second alert)")
        await self.settle()
        alert_call = self.show_new_calls()[0]
        case_id = answer["case_id"]
        channel = alert_call.body["channel"]
        c.print("[dim]The customer's <!channel> and & arrive as plain text: nobody is pinged.[/dim]")

        def alert() -> dict:
            key = f"slack:case:{case_id}:alert"
            return next(m for m in self.slack.messages(channel)
                        if ((m.get("metadata") or {}).get("event_payload") or {}).get("key") == key)

        self.scene("4 · Bob tries to close it as not actionable; Alice takes it")
        await sender.click("U0BOB", alert(), "case_dismiss", channel=channel)
        await self.settle()
        self.show_new_calls()
        self.clock.advance(minutes=7)
        await sender.click("U0ALICE", alert(), "case_take", channel=channel)
        await self.settle()
        self.show_new_calls()

        self.scene("5 · Alice works the RESOLVED steps, one modal each")
        notes = {
            "respond": {"note": "Called Dana within the hour; listened first."},
            "empathize": {"note": "Apologised for three wasted calls and the broken promise."},
            "solve": {"note": "Offered a replacement router by courier tomorrow."},
            "open": {"note": "Dana asked for a callback window instead of waiting on hold: agreed."},
            "listen": {"note": "Main frustration: nobody owning it. I'm her single contact now."},
            "verify": {"customer_agreed": True, "note": "Router tomorrow + callback 9-10am. Dana agreed."},
            "eliminate": {"note": "Router dispatched, callback booked."},
            "document": {"root_cause": "processes", "note": "Callback promises are not tracked; raised with ops."},
        }
        for i, (step, values) in enumerate(notes.items()):
            self.clock.advance(minutes=20)
            await sender.click("U0ALICE", alert(), "case_step", channel=channel)
            await self.rt.wait_idle()
            modal = self.slack.calls_to("views.open")[-1].body["view"]
            if i in (0, 5, 7):
                c.print(call_panel("views.open", {"view": modal}, self.names, self.channels))
            await sender.submit("U0ALICE", modal, values)
            await self.settle()
            self.seen = len(self.slack.calls)
            c.print(f"  ✅ step {i + 1}: {modal['title']['text']} — {values.get('note', '')}")
        c.print(call_panel("chat.update", {**alert(), "channel": channel}, self.names, self.channels))

        self.scene("6 · Alice closes the loop with Dana")
        self.clock.advance(hours=1)
        await sender.click("U0ALICE", alert(), "case_close_loop", channel=channel)
        await self.rt.wait_idle()
        modal = self.slack.calls_to("views.open")[-1].body["view"]
        await sender.submit("U0ALICE", modal, {"how": "phone", "when": int(self.clock.now.timestamp()),
                                               "note": "Router working; Dana thanked the team."})
        await self.settle()
        self.seen = len(self.slack.calls)
        c.print(call_panel("chat.update", {**alert(), "channel": channel}, self.names, self.channels))
        thread = [m for m in self.slack.messages(channel) if m.get("thread_ts") == alert()["ts"] and m["ts"] != alert()["ts"]]
        c.print(f"The case's history is in the alert's thread ({len(thread)} replies), e.g.:")
        for m in thread[-2:]:
            c.print(call_panel("chat.postMessage", {**m, "channel": channel, "thread_ts": m["thread_ts"]}, self.names,
                               self.channels))

        await outer_loop(self, sender, self.settings)

        self.scene("What happened")
        per_method = Counter(call.method for call in self.slack.calls)
        t = Table(title="Slack Web API calls the stand-in received")
        t.add_column("method")
        t.add_column("calls", justify="right")
        for m, n in sorted(per_method.items()):
            t.add_row(m, str(n))
        c.print(t)
        c.print(f"Run it for real: see README (Slack app from manifest.yml, `cxloop serve`). "
                f"The demo database is kept at {self.db_path} — try `DATABASE_URL=sqlite:///{self.db_path} "
                f"cxloop scores --by team`.")

    def scores_table(self) -> None:
        end = self.clock.now
        week = compute_scores(self.engine, since=end - timedelta(days=7), until=end, by="team")
        prev = {g.key: g for g in compute_scores(self.engine, since=end - timedelta(days=14),
                                                  until=end - timedelta(days=7), by="team")}
        t = Table(title="This week by team (change on the week before)")
        for col in ("team", "NPS", "CSAT", "CES", "responses"):
            t.add_column(col, justify="right" if col != "team" else "left")

        def fmt(now: float | int | None, before: float | int | None, pct: bool = False) -> str:
            if now is None:
                return "no responses"
            s = f"{now:+.1f}" if not pct else f"{now}%"
            if before is not None:
                s += f" ({now - before:+.1f})"
            return s

        for g in week:
            p = prev.get(g.key)
            t.add_row(g.key, fmt(g.nps.score, p.nps.score if p else None),
                      fmt(g.csat.score, p.csat.score if p else None, pct=True),
                      fmt(g.ces.score, p.ces.score if p else None, pct=True), str(g.responses))
        self.console.print(t)
