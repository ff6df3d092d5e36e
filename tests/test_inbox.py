"""Slack requests acknowledged at once, stored, and handled by a worker: never lost, never twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from datetime import timedelta
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from bot.config import Settings, load_workspace
from bot.intake.store import record_response
from bot.intake.surveys import build_response
from bot.machinery import inbox
from handlers.serve import build_services
from handlers.server import build_web_app
from standins.slack_api import SlackStandIn
from standins.slack_sender import SlackSender
from storage.models import Case, InboxItem, Member, OutboxMessage
from storage.types import utcnow
from tests.conftest import cli_env
from tests.harness import SIGNING_SECRET, TOKEN, CxHarness


def detractor(ext: str) -> object:
    return build_response({"source": "generic", "external_id": ext, "survey": "nps", "score": 2,
                           "comment": "Nobody called me back.", "touchpoint": "phone",
                           "responded_at": "2026-11-20T10:00:00Z"})


def owner_of(engine, case_id: int) -> str | None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        case = s.get(Case, case_id)
        assert case is not None
        m = s.get(Member, case.owner_id) if case.owner_id else None
        return m.slack_user_id if m else None


async def test_the_web_process_acknowledges_and_stores_and_a_worker_process_handles(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, detractor("r-1"))
        await cx.deliver()
        alert = cx.alert(1)
        # The server as `cxloop serve --workers 1` runs it: acknowledge and store, nothing more.
        web = build_services(engine, cx.ws, cx.settings, role="web")
        assert web.deliverer is None and web.inbox_worker is None
        server = TestServer(build_web_app(web), host="127.0.0.1", port=0)
        await server.start_server()
        try:
            async with SlackSender(str(server.make_url("/slack/events")), SIGNING_SECRET,
                                   response_base=cx.slack.response_base) as sender:
                reply = await sender.click("U0BOB", alert, "case_take", channel="C0SUPPORT")
                command = await sender.command("U0BOB", "mine")
                await web.runtime.wait_idle()
        finally:
            await server.close()
        assert reply.status == 200 and reply.text == ""
        assert command.status == 200 and command.text == ""
        assert owner_of(engine, 1) is None, "the web process must not handle the click itself"
        assert inbox.pending(engine) == 2
        assert cx.slack.responses(command.response_token) == []

        # A worker process (here its services, in this process) handles both, in order, once.
        worker = build_services(engine, cx.ws, cx.settings, role="worker")
        assert worker.slack_app is None and worker.inbox_worker is not None and worker.deliverer is not None
        assert await worker.inbox_worker.drain() == 2
        assert await worker.inbox_worker.drain() == 0
        assert owner_of(engine, 1) == "U0BOB"
        [answer] = cx.slack.responses(command.response_token)
        assert "#1" in str(answer["blocks"]), "Bob's /cx mine lists the case he just took"
        await worker.deliverer.drain()
        assert "<@U0BOB>" in str(cx.alert(1)["blocks"]), "the alert now names its owner"
        with Session(engine) as s:
            items = list(s.exec(select(InboxItem).order_by(InboxItem.id)))
        assert [(i.kind, i.status, i.attempts, i.last_error) for i in items] == [
            ("block_actions", "done", 1, None), ("command", "done", 1, None)]


async def test_a_stored_click_keeps_its_payload_exactly_as_slack_sent_it(engine):
    from urllib.parse import urlencode

    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, detractor("r-1"))
        await cx.deliver()
        web = build_services(engine, cx.ws, cx.settings, role="web")
        server = TestServer(build_web_app(web), host="127.0.0.1", port=0)
        await server.start_server()
        try:
            async with SlackSender(str(server.make_url("/slack/events")), SIGNING_SECRET) as sender:
                sent = json.loads(parse_qs(sender.click_body("U0BOB", cx.alert(1), "case_take",
                                                             channel="C0SUPPORT").decode())["payload"][0])
                sent["user"]["name"] = "Zoë"
                # Slack's own JSON: compact, with UTF-8 as is.
                payload = json.dumps(sent, separators=(",", ":"), ensure_ascii=False)
                reply = await sender.post(urlencode({"payload": payload}).encode(), "application/x-www-form-urlencoded")
        finally:
            await server.close()
        assert reply.status == 200
        with Session(engine) as s:
            [item] = s.exec(select(InboxItem))
        assert item.body == payload, "the inbox row is the request as received, not a re-written copy"


def test_an_item_left_by_a_dead_worker_is_taken_again_once_its_lease_runs_out(engine):
    item_id = inbox.put(engine, platform="slack", kind="command", body="{}", content_type="application/json")
    [taken] = inbox.claim(engine, "worker-that-dies")
    assert taken.id == item_id
    assert inbox.claim(engine, "other-worker") == [], "a leased item is nobody else's"
    later = utcnow() + inbox.LEASE + timedelta(seconds=1)
    [again] = inbox.claim(engine, "other-worker", now=later)
    assert again.id == item_id and again.attempts == 2
    inbox.finish(engine, taken, "worker-that-dies")  # the first worker's late finish changes nothing
    assert inbox.pending(engine) == 1
    inbox.finish(engine, again, "other-worker")
    assert inbox.pending(engine) == 0


def _put(engine, lane):  # type: ignore[no-untyped-def]
    return inbox.put(engine, platform="slack", kind="block_actions", body="{}", content_type="application/json",
                     lane=lane)


def test_one_persons_requests_are_taken_together_and_nobody_else_takes_any_meanwhile(engine):
    bob_1, ann_1, bob_2, nobody = _put(engine, "slack:U0BOB"), _put(engine, "slack:U0ANN"), \
        _put(engine, "slack:U0BOB"), _put(engine, None)
    first = inbox.claim(engine, "worker-a")
    assert [i.id for i in first] == [bob_1, ann_1, bob_2, nobody], "oldest first, Bob's two clicks together"
    assert inbox.claim(engine, "worker-b") == [], "not even another worker takes one meanwhile"
    bob_3 = _put(engine, "slack:U0BOB")
    assert inbox.claim(engine, "worker-b") == [], "Bob's next click waits while his earlier ones are held"
    inbox.finish_many(engine, [(it, None, False) for it in first], "worker-a")
    assert [i.id for i in inbox.claim(engine, "worker-b")] == [bob_3]


async def test_one_persons_requests_are_handled_in_order_and_others_alongside(engine):
    bob_1, ann_1, bob_2, bob_3 = (_put(engine, lane) for lane in ("slack:U0BOB", "slack:U0ANN", "slack:U0BOB",
                                                                   "slack:U0BOB"))
    events: list[str] = []

    async def handle(item: InboxItem) -> str | None:
        events.append(f"start {item.id}")
        await asyncio.sleep(0.01)  # another person's request may run meanwhile, never Bob's next
        events.append(f"end {item.id}")
        return None

    assert await inbox.InboxWorker(engine, handle).drain() == 4
    bob = [e for e in events if e.split()[1] in {str(bob_1), str(bob_2), str(bob_3)}]
    assert bob == [f"start {bob_1}", f"end {bob_1}", f"start {bob_2}", f"end {bob_2}", f"start {bob_3}",
                   f"end {bob_3}"]
    assert events.index(f"start {ann_1}") < events.index(f"end {bob_1}"), "Ann's click did not wait for Bob's"
    assert inbox.pending(engine) == 0


async def test_a_click_to_be_retried_holds_back_the_same_persons_later_clicks(engine):
    bob_1, bob_2, ann_1 = _put(engine, "slack:U0BOB"), _put(engine, "slack:U0BOB"), _put(engine, "slack:U0ANN")
    handled: list[int] = []
    down = True

    async def handle(item: InboxItem) -> str | None:
        if item.id == bob_1 and down:
            raise OperationalError("SELECT 1", {}, Exception("database is unreachable"))
        handled.append(item.id)  # type: ignore[arg-type]
        return None

    worker = inbox.InboxWorker(engine, handle)
    await worker.drain()
    assert handled == [ann_1], "Bob's second click was not handled before his first"
    with Session(engine) as s:
        second = s.get(InboxItem, bob_2)
        assert second is not None and second.status == "pending" and second.attempts == 0, \
            "taken but never tried: its attempt is not counted"
        assert second.locked_by is None
    assert inbox.claim(engine, "worker-b") == [], "while Bob's first click backs off, his second waits"
    down = False
    for it in inbox.claim(engine, worker.me, now=utcnow() + timedelta(minutes=1)):
        inbox.finish_many(engine, [await worker._one(it)], worker.me)
    assert handled == [ann_1, bob_1, bob_2]
    assert inbox.pending(engine) == 0


@pytest.mark.postgres_only
def test_a_claim_never_runs_ahead_of_an_earlier_click_another_worker_is_taking(engine):
    bob_1, bob_2, ann_1 = _put(engine, "slack:U0BOB"), _put(engine, "slack:U0BOB"), _put(engine, "slack:U0ANN")
    # Another worker, mid-claim: it holds Bob's first click locked (FOR UPDATE), not yet leased.
    with engine.connect() as other:
        other.execute(text("SELECT id FROM inbox WHERE id = :id FOR UPDATE"), {"id": bob_1})
        taken = inbox.claim(engine, "worker-b")
        assert [i.id for i in taken] == [ann_1], "Bob's second click is left until his first is done"
        other.rollback()
    inbox.finish_many(engine, [(it, None, False) for it in taken], "worker-b")
    assert [i.id for i in inbox.claim(engine, "worker-b")] == [bob_1, bob_2]


async def test_an_item_that_cannot_be_handled_is_retried_then_marked_failed(engine):
    inbox.put(engine, platform="slack", kind="command", body="{}", content_type="application/json")
    calls = []

    async def unreachable(item: InboxItem) -> str | None:
        calls.append(item.attempts)
        raise OperationalError("SELECT 1", {}, Exception("database is unreachable"))

    worker = inbox.InboxWorker(engine, unreachable)
    await worker.drain()
    with Session(engine) as s:
        [item] = s.exec(select(InboxItem))
        assert item.status == "pending" and item.locked_until is not None and item.locked_until > utcnow()
        assert "unreachable" in (item.last_error or "")
    for _ in range(inbox.MAX_ATTEMPTS):  # what the back-off would do over the next minute
        for it in inbox.claim(engine, worker.me, now=utcnow() + timedelta(minutes=10)):
            inbox.finish_many(engine, [await worker._one(it)], worker.me)
    with Session(engine) as s:
        [item] = s.exec(select(InboxItem))
    assert item.status == "failed" and item.attempts == inbox.MAX_ATTEMPTS
    assert calls == list(range(1, inbox.MAX_ATTEMPTS + 1))


async def test_a_request_that_cannot_be_stored_is_not_acknowledged(engine, monkeypatch):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, detractor("r-1"))
        await cx.deliver()

        def broken(*a, **k):  # type: ignore[no-untyped-def]
            raise OperationalError("INSERT INTO inbox", {}, Exception("disk I/O error"))

        monkeypatch.setattr(inbox, "put_many", broken)
        # A command's answer is its HTTP response: the person reads at once that it did not go in.
        reply = await cx.sender.command("U0BOB", "mine")
        assert reply.status == 200 and "could not take that in" in reply.json()["text"]
        assert cx.slack.responses(reply.response_token) == []
        # A click is not acknowledged (Slack shows the person it failed); an event, Slack retries.
        click = await cx.sender.click("U0BOB", cx.alert(1), "case_take", channel="C0SUPPORT")
        assert click.status == 503
        event = await cx.sender.home_opened("U0BOB")
        assert event.status == 503
        await cx.rt.wait_idle()
        assert owner_of(engine, 1) is None and inbox.pending(engine) == 0


async def test_acknowledged_means_stored_the_row_is_committed_before_the_200(engine):
    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, detractor("r-1"))
        await cx.deliver()
        # The server as `cxloop serve --workers 1` runs it: nothing in this process handles the click.
        web = build_services(engine, cx.ws, cx.settings, role="web")
        server = TestServer(build_web_app(web), host="127.0.0.1", port=0)
        await server.start_server()
        try:
            async with SlackSender(str(server.make_url("/slack/events")), SIGNING_SECRET,
                                   response_base=cx.slack.response_base) as sender:
                replies = await asyncio.gather(*(sender.click(user, cx.alert(1), "case_take", channel="C0SUPPORT")
                                                 for user in ("U0BOB", "U0ALICE", "U0MANAGER")),
                                               sender.command("U0BOB", "mine"), sender.home_opened("U0BOB"))
                # Read at the moment the last 200 arrived, before anything else runs on this loop.
                stored = inbox.pending(engine)
        finally:
            await server.close()
        assert [r.status for r in replies] == [200] * 5
        assert stored == 5, "every acknowledged request was already in the inbox"


async def test_socket_mode_acknowledges_only_once_the_request_is_stored(engine, monkeypatch):
    from slack_bolt.request.async_request import AsyncBoltRequest

    async with CxHarness(engine) as cx:
        record_response(engine, cx.ws, detractor("r-1"))
        await cx.deliver()
        web = build_services(engine, cx.ws, cx.settings, role="web")
        payload = json.loads(parse_qs(cx.sender.click_body("U0BOB", cx.alert(1), "case_take",
                                                           channel="C0SUPPORT").decode())["payload"][0])
        # Socket Mode hands Bolt a parsed payload; the ack goes back over the WebSocket when dispatch returns.
        ack = await web.slack_app.async_dispatch(AsyncBoltRequest(body=payload, mode="socket_mode"))
        assert ack.status == 200 and inbox.pending(engine) == 1

        def broken(*a, **k):  # type: ignore[no-untyped-def]
            raise OperationalError("INSERT INTO inbox", {}, Exception("disk I/O error"))

        monkeypatch.setattr(inbox, "put_many", broken)
        ack = await web.slack_app.async_dispatch(AsyncBoltRequest(body=payload, mode="socket_mode"))
        assert ack.status == 503 and inbox.pending(engine) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_cxloop_serve_runs_a_worker_process_and_stops_with_it(db_url):
    """`cxloop serve --workers 1` as deployed: a real server process and its worker process."""
    async with SlackStandIn(token=TOKEN) as slack:
        port = _free_port()
        env = {**cli_env(), "DATABASE_URL": db_url, "SLACK_BOT_TOKEN": TOKEN,
               "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.api_url}
        env.pop("CXLOOP_CONFIG", None)
        proc = subprocess.Popen([sys.executable, "-m", "handlers.cli", "serve", "--port", str(port), "--workers", "1"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(300):
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    assert proc.poll() is None, proc.communicate()
                    await asyncio.sleep(0.1)
                async with SlackSender(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET,
                                       response_base=slack.response_base) as sender:
                    reply = await sender.command("U0MANAGER", "help")
                    assert reply.status == 200 and reply.text == ""
                    for _ in range(300):
                        if slack.responses(reply.response_token):
                            break
                        await asyncio.sleep(0.1)
            [answer] = slack.responses(reply.response_token)
            assert "/cx" in str(answer), "the worker process answered /cx help on its response_url"
            children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
            assert len(children) == 1, "one worker process"
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "worker processes: 1" in out
        for pid in children:
            assert not os.path.exists(f"/proc/{pid}") or "zombie" in open(f"/proc/{pid}/status").read().lower()


def test_a_worker_process_delivers_to_teams_as_well(engine):
    from bot.config import Settings, load_workspace

    settings = Settings(teams_allow_no_auth=True, slack_bot_token=None)
    worker = build_services(engine, load_workspace(), settings, role="worker")
    assert worker.deliverer is not None and "teams" in worker.deliverer.ports
    web = build_services(engine, load_workspace(), settings, role="web")
    assert web.teams_adapter is not None and web.deliverer is None


@pytest.mark.postgres_only
async def test_on_postgresql_workers_wake_for_new_work_from_other_processes_without_polling(engine, db_url):
    from bot.chat.messages import Message
    from bot.machinery.queueing import enqueue
    from handlers.server import listen_for_work
    from storage.db import make_engine, session_scope

    async with CxHarness(engine) as cx:
        handled: list[int] = []
        got = asyncio.Event()

        async def handle(item: InboxItem) -> None:
            handled.append(item.id)
            got.set()

        cx.services.inbox_worker = inbox.InboxWorker(engine, handle)
        listener = listen_for_work(engine, cx.services)
        assert listener is not None
        tasks = [asyncio.create_task(listener.run()),
                 # An hour between polls: only a notification can make them look in this test.
                 asyncio.create_task(cx.deliverer.run_forever(poll=3600)),
                 asyncio.create_task(cx.services.inbox_worker.run_forever(poll=3600))]
        try:
            await asyncio.wait_for(listener.connected.wait(), 10)
            await asyncio.sleep(0.3)  # the first passes find nothing and go to sleep
            elsewhere = make_engine(db_url)  # another process's connection
            try:
                item = inbox.put(elsewhere, platform="slack", kind="command", body="{}", content_type="application/json")
                with session_scope(elsewhere) as s:
                    enqueue(s, key="slack:test:woken", platform="slack", action="post", target="C0SUPPORT",
                            message=Message(text="delivered because a notification woke the worker"))
            finally:
                elsewhere.dispose()
            await asyncio.wait_for(got.wait(), 10)
            for _ in range(100):
                if cx.slack.messages("C0SUPPORT"):
                    break
                await asyncio.sleep(0.1)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        assert handled == [item]
        assert [m["text"] for m in cx.slack.messages("C0SUPPORT")] == ["delivered because a notification woke the worker"]


@pytest.mark.sqlite_only
def test_on_sqlite_workers_poll(engine):
    from handlers.server import listen_for_work

    assert listen_for_work(engine, build_services(engine, load_workspace(), Settings(teams_allow_no_auth=True),
                                                  role="worker")) is None


@pytest.mark.sqlite_only
async def test_an_idle_sqlite_worker_skips_its_queries_until_something_is_committed(engine, db_url):
    from sqlalchemy import event

    from storage.db import make_engine

    queries: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: queries.append(a[2]))
    handled: list[int] = []

    async def handle(item: InboxItem) -> None:
        handled.append(item.id)

    worker = inbox.InboxWorker(engine, handle)
    worker.idle_look = 3600  # no look-anyway during the test: only a commit makes it look
    task = asyncio.create_task(worker.run_forever(poll=0.02))
    try:
        await asyncio.sleep(0.3)  # the first passes look
        looked = len(queries)
        await asyncio.sleep(0.6)  # ~30 polls with nothing committed: none asks the database
        assert len(queries) == looked, queries[looked:]
        elsewhere = make_engine(db_url)  # another process stores a request
        try:
            item = inbox.put(elsewhere, platform="slack", kind="command", body="{}", content_type="application/json")
        finally:
            elsewhere.dispose()
        await _eventually(lambda: handled, timeout=5)
        assert handled == [item]
    finally:
        task.cancel()


@pytest.mark.sqlite_only
async def test_an_idle_sqlite_worker_still_takes_work_that_comes_due_with_no_commit(engine, process_clock):
    handled: list[int] = []

    async def handle(item: InboxItem) -> None:
        handled.append(item.id)

    item = inbox.put(engine, platform="slack", kind="command", body="{}", content_type="application/json")
    [taken] = inbox.claim(engine, "worker-that-died")  # and it holds the item until its lease runs out
    assert taken.id == item
    worker = inbox.InboxWorker(engine, handle)
    worker.idle_look = 0.2
    task = asyncio.create_task(worker.run_forever(poll=0.05))
    try:
        await asyncio.sleep(0.5)
        assert handled == []
        process_clock.now += inbox.LEASE + timedelta(seconds=1)  # the lease runs out; nothing is committed
        await _eventually(lambda: handled, timeout=10)
        assert handled == [item]
    finally:
        task.cancel()


async def _eventually(check, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    for _ in range(int(timeout / 0.1)):
        found = check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"still not true after {timeout} s: {check}")


def outbox_settled(engine) -> bool:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return all(row.status == "sent" for row in s.exec(select(OutboxMessage)))


async def test_a_click_acknowledged_right_before_a_kill_9_is_handled_after_the_restart(db_url):
    """`cxloop serve` as deployed, killed with SIGKILL (server and worker) just after a click's 200."""
    from bot.config import load_workspace
    from bot.people.roster import sync_workspace
    from storage.db import make_engine, session_scope
    from tests.serve_process import ServeProcess

    engine = make_engine(db_url)
    ws = load_workspace()
    with session_scope(engine) as s:
        sync_workspace(s, ws)
    record_response(engine, ws, detractor("r-1"))

    def alert() -> dict | None:
        return next((m for m in slack.messages("C0SUPPORT")
                     if (m.get("metadata") or {}).get("event_payload", {}).get("key") == "slack:case:1:alert"), None)

    async with SlackStandIn(token=TOKEN) as slack:
        for uid, person in ws.people.items():
            slack.add_user(uid, name=person.name, tz=person.tz or "UTC")
        env = {"DATABASE_URL": db_url, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
               "SLACK_API_URL": slack.api_url}
        first = await ServeProcess("--workers", "1", env=env).start()
        try:
            posted = await _eventually(alert)  # the worker process posted the case's alert
            await _eventually(lambda: outbox_settled(engine))
            # Kill the worker first, so nothing handles the click before the crash whatever the timing
            # (the server starts another only seconds later).
            [worker] = subprocess.run(["pgrep", "-P", str(first.proc.pid)], capture_output=True, text=True).stdout.split()
            os.kill(int(worker), signal.SIGKILL)
            async with SlackSender(first.url + "/slack/events", SIGNING_SECRET,
                                   response_base=slack.response_base) as sender:
                reply = await sender.click("U0BOB", posted, "case_take", channel="C0SUPPORT")
        finally:
            first.kill_all()
        assert reply.status == 200, reply.text
        assert owner_of(engine, 1) is None, "nothing handled the click before the crash"
        assert inbox.pending(engine) == 1, "but it was stored before it was acknowledged"

        async with ServeProcess("--workers", "1", env=env):
            await _eventually(lambda: "<@U0BOB>" in str((alert() or {}).get("blocks")))
        assert owner_of(engine, 1) == "U0BOB"
        assert inbox.pending(engine) == 0
    engine.dispose()


@pytest.mark.sqlite_only
def test_a_request_stored_while_another_writer_holds_the_lock_waits_for_it_with_the_server_still_serving(engine):
    import threading

    from bot.machinery.inbox_writer import put_now

    held, release = threading.Event(), threading.Event()

    def hold_the_write_lock() -> None:
        with engine.execution_options(cx_write=True).begin():  # BEGIN IMMEDIATE
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    held.wait(10)
    threading.Timer(0.3, release.set).start()
    ticks = 0

    async def store_while_serving() -> int:
        async def serve_others() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        others = asyncio.create_task(serve_others())
        try:
            [item_id] = await put_now(engine, [{"platform": "slack", "kind": "command", "body": "{}",
                                                "content_type": "application/json"}])
        finally:
            others.cancel()
        return item_id

    item_id = asyncio.run(store_while_serving())
    holder.join()
    assert inbox.pending(engine) == 1 and item_id == 1
    # 0.3 s of waiting for the lock: the event loop went on meanwhile (about 30 turns, not 1).
    assert ticks >= 10, f"the event loop was held while the request waited for the lock ({ticks} turns)"


def test_a_batch_stored_for_acknowledgements_reads_back_as_one_stored_through_the_orm(engine):
    """On SQLite a batch goes in through the driver's own executemany (bot/machinery/inbox.py
    `_put_sqlite`): its rows must read back, and compare in SQL, exactly as the ORM's would."""
    rows = [{"platform": "slack", "kind": "command", "body": '{"text": "caf\u00e9 \u2603"}', "content_type": "application/json"},
            {"platform": "teams", "kind": "message", "body": "{}", "content_type": "application/json", "lane": "teams:x"}]
    first = inbox.put_many(engine, rows)
    single = inbox.put(engine, platform="slack", kind="command", body="{}", content_type="application/json")
    second = inbox.put_many(engine, rows[:1])
    assert first == [1, 2] and single == 3 and second == [4]
    with Session(engine) as s:
        items = [s.get(InboxItem, i) for i in (1, 2, 3, 4)]
        # Compared in SQL as the worker's queries compare them (text on SQLite, timestamps on PostgreSQL).
        same_instant = s.exec(select(InboxItem.id).where(InboxItem.received_at == utcnow())).all()
    assert [i.body for i in items] == [rows[0]["body"], "{}", "{}", rows[0]["body"]]
    assert [i.lane for i in items] == [None, "teams:x", None, None]
    assert {(i.status, i.attempts, i.locked_by, i.done_at) for i in items} == {("pending", 0, None, None)}
    assert {i.received_at for i in items} == {utcnow()}
    assert sorted(same_instant) == [1, 2, 3, 4]
    assert inbox.pending(engine) == 4
    with engine.connect() as conn:
        stamps = {r[0] for r in conn.execute(text("SELECT received_at FROM inbox"))}
    assert len(stamps) == 1, f"the rows' instants are written differently: {stamps}"


def test_a_batch_with_a_bad_row_stores_none_of_it_and_the_next_batch_goes_in(engine):
    from sqlalchemy.exc import IntegrityError

    good = {"platform": "slack", "kind": "command", "body": "{}", "content_type": "application/json"}
    with engine.connect() as conn:
        with pytest.raises(IntegrityError):
            inbox.put_many(conn, [good, {**good, "kind": None}])  # kind is NOT NULL
        assert inbox.pending(engine) == 0, "half a batch was stored"
        # The same connection is usable again: the failed batch's transaction was rolled back.
        ids = inbox.put_many(conn, [good, good])
    assert inbox.pending(engine) == 2 and len(set(ids)) == 2
    with Session(engine) as s:
        assert sorted(s.exec(select(InboxItem.id)).all()) == sorted(ids)
