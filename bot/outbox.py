"""The outbox: every outgoing message is written here first, then delivered by a worker.

The dedupe key makes each message once-only however often the code that wants it runs. The worker
claims due rows in the database (so two replicas never take the same row), paces each target,
retries what can be retried, and, when an earlier attempt may have reached the platform, asks the
platform before posting again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.messages import Message
from storage.db import insert_missing, is_postgres, session_scope
from storage.models import OutboxMessage
from storage.types import utcnow

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
PER_TARGET = 40  # per claim: at one message a second per channel, well inside the lease
MAX_BACKOFF = timedelta(minutes=10)


# --- enqueueing ------------------------------------------------------------------------------


def enqueue(session: Session, *, key: str, platform: str, action: str, target: str,
            message: Message | dict[str, Any], thread_key: str | None = None, anchor_key: str | None = None,
            case_id: int | None = None, not_before: datetime | None = None) -> bool:
    """Queue a message once. Returns False when the key was already queued (nothing is added).

    Pictures travel as their own rows (action "upload", in the message's thread), so a failed
    upload is retried on its own and never lost behind a post that already went out.
    """
    if session.exec(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)).first() is not None:  # type: ignore[call-overload]
        return False
    if isinstance(message, Message) and action in ("post", "dm") and any(b.kind == "image" for b in message.blocks):
        images = [b for b in message.blocks if b.kind == "image"]
        message = message.model_copy(update={"blocks": [b for b in message.blocks if b.kind != "image"]})
        if not enqueue(session, key=key, platform=platform, action=action, target=target, message=message,
                       thread_key=thread_key, anchor_key=anchor_key, case_id=case_id, not_before=not_before):
            return False
        for i, img in enumerate(images):
            enqueue(session, key=f"{key}:image:{i}", platform=platform, action="upload", target=target,
                    message=Message(text=img.title, blocks=[img]), thread_key=key, case_id=case_id,
                    not_before=not_before)
        return True
    payload = message.model_dump(mode="json") if isinstance(message, Message) else (message or {})
    row = OutboxMessage(dedupe_key=key, platform=platform, action=action, target=target, payload=payload,
                        thread_key=thread_key, anchor_key=anchor_key, case_id=case_id,
                        next_attempt_at=not_before or utcnow())
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # Another transaction queued the same key first: that one wins, nothing is doubled.
        return False
    if action == "home":
        # The Home tab shows current state when it is delivered: one pending refresh is enough.
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.platform == platform, OutboxMessage.target == target, OutboxMessage.action == "home",
                   OutboxMessage.status == "pending", OutboxMessage.id != row.id)
            .values(status="superseded")
        )
    if action == "update" and anchor_key:
        # Only the newest version of a message matters; older queued edits are dropped.
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.anchor_key == anchor_key, OutboxMessage.action == "update",
                   OutboxMessage.status == "pending", OutboxMessage.id != row.id)
            .values(status="superseded")
        )
    return True


@dataclass(frozen=True)
class Queued:
    """One message for `enqueue_many`; the fields are `enqueue`'s."""

    key: str
    platform: str
    action: str
    target: str
    message: Message
    thread_key: str | None = None
    case_id: int | None = None
    not_before: datetime | None = None


def enqueue_many(session: Session, items: list[Queued]) -> None:
    """`enqueue` for many messages at once (a key already queued, by anyone, is skipped). Pictures,
    App Home refreshes and edits go through `enqueue`, which knows how to split or supersede them."""
    rows = []
    now = utcnow()
    for it in items:
        if it.action in ("home", "update") or any(b.kind == "image" for b in it.message.blocks):
            enqueue(session, key=it.key, platform=it.platform, action=it.action, target=it.target,
                    message=it.message, thread_key=it.thread_key, case_id=it.case_id, not_before=it.not_before)
            continue
        rows.append({"dedupe_key": it.key, "platform": it.platform, "action": it.action, "target": it.target,
                     "payload": it.message.model_dump(mode="json"), "thread_key": it.thread_key,
                     "anchor_key": None, "case_id": it.case_id, "status": "pending", "attempts": 0,
                     "next_attempt_at": it.not_before or now, "created_at": now})
    insert_missing(session, OutboxMessage.__table__, rows, unique=["dedupe_key"])  # type: ignore[arg-type]


# --- delivering ------------------------------------------------------------------------------


class RetryLater(Exception):
    """A delivery failed in a way worth retrying (429, 5xx, network)."""

    def __init__(self, reason: str, after: float | None = None, maybe_sent: bool = False):
        super().__init__(reason)
        self.after = after
        self.maybe_sent = maybe_sent


class PermanentFailure(Exception):
    """A delivery can never succeed as queued (unknown channel, bad payload)."""


@dataclass(frozen=True)
class Delivered:
    channel: str
    ref: str


class ChatPort(Protocol):
    """What the core needs from a chat platform to deliver queued messages."""

    platform: str

    def pace(self, action: str) -> float:
        """Seconds to leave between two sends to the same target."""

    async def send(self, row: OutboxMessage, *, thread: Delivered | None, anchor: Delivered | None) -> Delivered:
        """Deliver one queued message; raise RetryLater or PermanentFailure on failure."""

    async def find_sent(self, row: OutboxMessage, *, thread: Delivered | None = None) -> Delivered | None:
        """If an earlier attempt at `row` reached the platform, where it landed."""


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _claim(engine: Engine, platforms: list[str], me: str, now: datetime, limit: int) -> list[OutboxMessage]:
    """Lease up to `limit` due rows to this worker, oldest first."""
    with session_scope(engine) as s:
        q = (select(OutboxMessage)
             .where(OutboxMessage.status == "pending", OutboxMessage.platform.in_(platforms),
                    OutboxMessage.next_attempt_at <= now,
                    or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now))
             .order_by(OutboxMessage.id).limit(limit))
        if is_postgres(engine):
            q = q.with_for_update(skip_locked=True)
        rows = []
        per_target: dict[tuple[str, str], int] = {}
        for r in s.execute(q).scalars():
            # No more rows per target than can be sent before the lease runs out (one a second).
            k = (r.platform, r.target)
            per_target[k] = per_target.get(k, 0) + 1
            if per_target[k] <= PER_TARGET:
                rows.append(r)
        for r in rows:
            r.locked_by = me
            r.locked_until = now + LEASE
            r.attempts += 1
        s.flush()
        for r in rows:
            s.expunge(r)
        return rows


def _sent_refs(engine: Engine, keys: set[str]) -> dict[str, Delivered]:
    if not keys:
        return {}
    with Session(engine) as s:
        q = select(OutboxMessage.dedupe_key, OutboxMessage.sent_channel, OutboxMessage.sent_ref).where(
            OutboxMessage.dedupe_key.in_(keys), OutboxMessage.status == "sent")
        return {k: Delivered(c, r) for k, c, r in s.execute(q) if c and r}


def _finish(engine: Engine, row_id: int, me: str, **values: Any) -> None:
    with session_scope(engine) as s:
        s.execute(update(OutboxMessage).where(OutboxMessage.id == row_id, OutboxMessage.locked_by == me)
                  .values(locked_by=None, locked_until=None, **values))


def _backoff(attempts: int) -> timedelta:
    return min(MAX_BACKOFF, timedelta(seconds=2 ** min(attempts, 10)))


class Deliverer:
    """Drains the outbox through one port per platform."""

    def __init__(self, engine: Engine, ports: list[ChatPort], *, me: str | None = None, batch: int = 200,
                 prepare: Callable[[OutboxMessage], dict[str, Any] | None] | None = None):
        self.engine = engine
        # Builds a payload at delivery time for rows queued without one (the App Home, which must
        # show the state when it is published, not when the refresh was asked for).
        self.prepare = prepare
        self.ports = {p.platform: p for p in ports}
        self.me = me or worker_id()
        self.batch = batch
        self._last_send: dict[tuple[str, str], float] = {}
        self.wake = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._limited_for: dict[tuple[str, str], float] = {}  # Retry-After per rate-limited target

    def nudge(self) -> None:
        """Wake the worker now; safe to call from any thread."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.wake.set)

    async def drain(self, *, now: datetime | None = None, until_empty: bool = True) -> int:
        """Deliver everything due; returns how many messages were sent."""
        sent = 0
        while True:
            rows = await asyncio.to_thread(_claim, self.engine, list(self.ports), self.me, now or utcnow(), self.batch)
            if not rows:
                return sent
            sent += await self._deliver_batch(rows)
            if not until_empty:
                return sent

    async def _deliver_batch(self, rows: list[OutboxMessage]) -> int:
        by_target: dict[tuple[str, str], list[OutboxMessage]] = {}
        for r in rows:
            by_target.setdefault((r.platform, r.target), []).append(r)
        results = await asyncio.gather(*(self._deliver_target(k, rs) for k, rs in by_target.items()))
        return sum(results)

    async def _deliver_target(self, key: tuple[str, str], rows: list[OutboxMessage]) -> int:
        port = self.ports[key[0]]
        sent = 0
        blocked_until: datetime | None = None
        for row in rows:
            if blocked_until is not None:
                # The target is rate limited: the rest wait until the limit lifts, in order.
                await asyncio.to_thread(_finish, self.engine, row.id, self.me, attempts=row.attempts - 1,
                                        next_attempt_at=blocked_until)
                continue
            ok = await self._deliver_one(port, row)
            if ok is None:
                blocked_until = utcnow() + timedelta(seconds=self._limited_for.pop(key, 1.0))
            elif ok:
                sent += 1
        return sent

    async def _pace(self, port: ChatPort, row: OutboxMessage) -> None:
        gap = port.pace(row.action)
        if gap <= 0:
            return
        loop = asyncio.get_running_loop()
        k = (row.platform, row.target)
        wait = self._last_send.get(k, 0.0) + gap - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)

    def _sent_now(self, row: OutboxMessage) -> None:
        # Measured from when the platform answered, so its own clock never sees two sends closer
        # together than the gap, whatever the latency in between.
        self._last_send[(row.platform, row.target)] = asyncio.get_running_loop().time()

    async def _deliver_one(self, port: ChatPort, row: OutboxMessage) -> bool | None:
        """True sent, False failed or deferred, None when the target must wait (rate limited)."""
        assert row.id is not None
        refs = await asyncio.to_thread(_sent_refs, self.engine, {k for k in (row.thread_key, row.anchor_key) if k})
        thread = refs.get(row.thread_key) if row.thread_key else None
        anchor = refs.get(row.anchor_key) if row.anchor_key else None
        if (row.thread_key and thread is None) or (row.anchor_key and anchor is None):
            # The message this one threads under or edits has not gone out yet.
            await asyncio.to_thread(_finish, self.engine, row.id, self.me, attempts=row.attempts - 1,
                                    next_attempt_at=utcnow() + timedelta(seconds=1))
            return False
        try:
            if not row.payload:
                payload = await asyncio.to_thread(self.prepare, row) if self.prepare is not None else None
                if payload is None:
                    await asyncio.to_thread(_finish, self.engine, row.id, self.me, status="superseded")
                    return False
                row.payload = payload
            done = None
            # Look before re-posting only when the last attempt may have reached the platform: a 429
            # means nothing was posted (and history reads have a far lower rate limit than posting).
            if row.attempts > 1 and row.action in ("post", "dm") and not (row.last_error or "").startswith("rate limited"):
                done = await port.find_sent(row, thread=thread)
            if done is None:
                await self._pace(port, row)
                try:
                    done = await port.send(row, thread=thread, anchor=anchor)
                finally:
                    self._sent_now(row)
        except RetryLater as exc:
            delay = timedelta(seconds=exc.after) if exc.after is not None else _backoff(row.attempts)
            log.warning("outbox %s: retry in %ss: %s", row.dedupe_key, delay.total_seconds(), exc)
            await asyncio.to_thread(_finish, self.engine, row.id, self.me, last_error=str(exc)[:2000],
                                    next_attempt_at=utcnow() + delay)
            if exc.after is not None:
                self._limited_for[(row.platform, row.target)] = exc.after
                return None
            return False
        except PermanentFailure as exc:
            log.error("outbox %s: failed for good: %s", row.dedupe_key, exc)
            await asyncio.to_thread(_finish, self.engine, row.id, self.me, status="failed", last_error=str(exc)[:2000])
            return False
        except Exception as exc:  # one bad message never stops the rest
            log.exception("outbox %s: unexpected error", row.dedupe_key)
            await asyncio.to_thread(_finish, self.engine, row.id, self.me, last_error=repr(exc)[:2000],
                                    next_attempt_at=utcnow() + _backoff(row.attempts))
            return False
        await asyncio.to_thread(_finish, self.engine, row.id, self.me, status="sent", sent_channel=done.channel,
                                sent_ref=done.ref, sent_at=utcnow(), last_error=None)
        return True

    async def run_forever(self, *, poll: float = 1.0) -> None:
        """Deliver as work arrives (woken by `nudge`) and at least every `poll` seconds."""
        self.loop = asyncio.get_running_loop()
        while True:
            try:
                await self.drain()
            except Exception:
                log.exception("outbox worker pass failed; retrying")
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=poll)
            except asyncio.TimeoutError:
                pass
