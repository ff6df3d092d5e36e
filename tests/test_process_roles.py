"""Where each kind of process runs its blocking work, and what it keeps out of garbage collection."""

from __future__ import annotations

import gc
import threading

from bot.config import Settings, load_workspace
from handlers.serve import build_services, freeze_start_up_heap


def _settings() -> Settings:
    return Settings(slack_bot_token="xoxb-test", slack_signing_secret="secret", slack_api_url="http://127.0.0.1:9/api/")


async def test_a_worker_process_runs_its_database_steps_on_its_loop_and_a_server_keeps_its_loop_free(engine):
    here = threading.get_ident()
    worker = build_services(engine, load_workspace(), _settings(), role="worker")
    # No one waits on a worker's loop: its after-ack work and its claims and deliveries skip the thread hop.
    assert await worker.runtime.after_ack(threading.get_ident) == here
    assert await worker.runtime.blocking(threading.get_ident) == here
    assert worker.inbox_worker is not None and await worker.inbox_worker.run(threading.get_ident) == here
    assert worker.deliverer is not None and await worker.deliverer.run(threading.get_ident) == here
    # A server acknowledges on its loop: what runs after an ack goes to a thread, in one process or beside workers.
    for role in ("all", "web"):
        server = build_services(engine, load_workspace(), _settings(), role=role)
        assert await server.runtime.after_ack(threading.get_ident) != here, role
        assert await server.runtime.blocking(threading.get_ident) != here, role
    one = build_services(engine, load_workspace(), _settings(), role="all")
    assert one.deliverer is not None and await one.deliverer.run(threading.get_ident) != here


def test_start_up_objects_are_left_out_of_later_full_collections():
    before = gc.get_freeze_count()
    made_at_start_up = [[i] for i in range(1000)]
    try:
        frozen = freeze_start_up_heap()
        assert frozen >= before + 1000
        tracked = {id(o) for o in gc.get_objects()}
        assert not any(id(o) in tracked for o in made_at_start_up), "a full collection would still walk them"
    finally:
        gc.unfreeze()
