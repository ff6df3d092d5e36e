"""The outbox: every outgoing message is written here first (bot/machinery/queueing.py), then delivered by a worker.

The dedupe key makes each message once-only however often the code that wants it runs. The worker
claims due rows in the database (so two replicas never take the same row, and one target's rows go
to one worker at a time, in order), takes each target's turn from the pace all workers share
(bot/machinery/pace.py), retries what can be retried, and never posts blind when an earlier attempt may have
reached the platform: the row says so (`maybe_sent`) from before the send until the platform has
answered, or a look-up has, so a crash, a timeout or a 5xx is always looked for first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, bindparam, exists, func, select, text, update
from sqlalchemy.orm import aliased

from bot.machinery import pace
from storage.clock import database_seconds
from bot.machinery.leases import Runner, Worker, free, lease, worker_id
from storage.db import is_postgres, session_scope, writing
from storage.models import OutboxMessage
from storage.types import utcnow

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
PER_TARGET = 40  # per claim: at one message a second per channel, well inside the lease
MAX_BACKOFF = timedelta(minutes=10)
_TABLE = OutboxMessage.__table__  # type: ignore[attr-defined]


# --- delivering ------------------------------------------------------------------------------


class RetryLater(Exception):
    """A delivery failed in a way worth retrying (429, 5xx, network).

    `maybe_sent`: the platform may have done it anyway (a 5xx, a timeout, a connection lost after
    sending), so the next attempt must look for it first. `unanswered`: moreover nobody answered for
    the platform itself (a timeout, a gateway's 502/504), so it may still be doing it: the look-up
    waits for the port's `settle` first. `after`: the platform said when to come back (a 429's
    Retry-After); nothing was done.
    """

    def __init__(self, reason: str, after: float | None = None, maybe_sent: bool = False,
                 unanswered: bool = False):
        super().__init__(reason)
        self.after = after
        self.maybe_sent = maybe_sent or unanswered
        self.unanswered = unanswered


class PermanentFailure(Exception):
    """A delivery can never succeed as queued (unknown channel, bad payload)."""


@dataclass(frozen=True)
class Delivered:
    channel: str
    ref: str


class ChatPort(Protocol):
    """What the core needs from a chat platform to deliver queued messages."""

    platform: str
    # How long after an unanswered attempt (a timeout, a dropped connection) it may still land on
    # the platform: no look-up for it before then, or the look-up could miss it.
    settle: float

    def pace(self, action: str) -> float:
        """Seconds to leave between two sends to the same target."""

    async def send(self, row: OutboxMessage, *, thread: Delivered | None, anchor: Delivered | None) -> Delivered:
        """Deliver one queued message; raise RetryLater or PermanentFailure on failure."""

    async def find_sent(self, row: OutboxMessage, *, thread: Delivered | None = None) -> Delivered | None:
        """If an earlier attempt at `row` reached the platform, where it landed (None: it did not,
        or the platform cannot be asked). Raises RetryLater when the platform did not answer."""


# Actions that make a new message: repeating one blind could show it twice. Edits and App Home
# publishes replace what is there, so repeating them is harmless.
NEW_MESSAGE = ("post", "dm", "upload")
FINAL = ("sent", "failed", "superseded")
# A target's turn this close is waited for in place; a longer wait (a Retry-After) puts the
# target's rows back in the queue instead of holding their lease.
WAIT_IN_PLACE = 5.0


# The PostgreSQL advisory lock that outbox claims take in turn (any constant of our own).
CLAIM_LOCK = 0x6378_6C6F_6F70_0001


# Built once: every poll asks it.
_DUE = (select(_TABLE.c.id)
        .where(_TABLE.c.status == "pending", _TABLE.c.platform.in_(bindparam("platforms", expanding=True)),
               _TABLE.c.next_attempt_at <= bindparam("now"),
               free(_TABLE.c, bindparam("now")))
        .limit(1))


def _due(engine: Engine, platforms: list[str], now: datetime, target: str | None) -> bool:
    """Whether any row may be due: a plain read, no write lock, so an idle poll costs next to nothing."""
    stmt = _DUE if target is None else _DUE.where(_TABLE.c.target == target)
    with engine.connect() as conn:
        return conn.execute(stmt, {"platforms": platforms, "now": now}).first() is not None


def _claim(engine: Engine, platforms: list[str], me: str, now: datetime, limit: int, *,
           target: str | None = None) -> list[OutboxMessage]:
    """Lease up to `limit` due rows to this worker, oldest first, from targets no other worker is
    delivering to (so each target's messages go out in order, whichever worker has them); with
    `target`, from that target only."""
    if not _due(engine, platforms, now, target):
        return []
    other = aliased(OutboxMessage)
    with session_scope(engine) as s:
        if is_postgres(engine):
            # Claims take turns (SQLite's writers do anyway), so a claim always sees the leases the
            # one before it took, and two workers never both start on one target. A claim is a few
            # milliseconds; the lock is released at commit.
            s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK})
        q = (select(OutboxMessage)
             .where(OutboxMessage.status == "pending", OutboxMessage.platform.in_(platforms),
                    OutboxMessage.next_attempt_at <= now, free(OutboxMessage, now),
                    ~exists().where(other.platform == OutboxMessage.platform, other.target == OutboxMessage.target,
                                    other.status == "pending", other.locked_by != me, other.locked_until >= now))
             .order_by(OutboxMessage.id).limit(limit))
        if target is not None:
            q = q.where(OutboxMessage.target == target)

        def per_target_cap(found: list[OutboxMessage]) -> list[OutboxMessage]:
            # No more rows per target than can be sent before the lease runs out (one a second).
            taken: dict[tuple[str, str], int] = {}
            kept = []
            for r in found:
                k = (r.platform, r.target)
                taken[k] = taken.get(k, 0) + 1
                if taken[k] <= PER_TARGET:
                    kept.append(r)
            return kept

        return lease(s, q, me=me, now=now, lasts=LEASE, postgres=is_postgres(engine), of=OutboxMessage,
                     keep=per_target_cap)


_PARENTS = (select(_TABLE.c.dedupe_key, _TABLE.c.status, _TABLE.c.sent_channel, _TABLE.c.sent_ref)
            .where(_TABLE.c.dedupe_key.in_(bindparam("keys", expanding=True))))


def _parents(engine: Engine, keys: set[str]) -> dict[str, tuple[str, Delivered | None]]:
    """Status of the messages these keys name (and where they landed, once sent)."""
    if not keys:
        return {}
    with engine.connect() as conn:
        return {k: (st, Delivered(c, r) if st == "sent" and c and r else None)
                for k, st, c, r in conn.execute(_PARENTS, {"keys": list(keys)})}


def _finish(engine: Engine, row_id: int, me: str, *, then: Callable[[Connection], None] | None = None,
            **values: Any) -> None:
    """Release the row with `values`, if it is still ours; `then` runs in the same transaction."""
    with writing(engine) as conn:
        conn.execute(update(_TABLE).where(_TABLE.c.id == row_id, _TABLE.c.locked_by == me)
                     .values(locked_by=None, locked_until=None, **values))
        if then is not None:
            then(conn)


class _LeaseLost(Exception):
    """Another worker took the row (this one's lease ran out): it is theirs to send now."""


@lru_cache(maxsize=None)
def _may_be_sent(dialect: str) -> Any:
    """Mark a row "may have been sent" from now on, renewing its lease, if the lease is still `me`'s."""
    return (update(_TABLE)
            .where(_TABLE.c.id == bindparam("row_id"), _TABLE.c.locked_by == bindparam("me"),
                   _TABLE.c.status == "pending")
            .values(maybe_sent=True, first_try_at=func.coalesce(_TABLE.c.first_try_at, database_seconds(dialect)),
                    locked_until=bindparam("until")))


def _take_turn(engine: Engine, row: OutboxMessage, me: str, gap: float) -> pace.Turn:
    """The target's turn for `row`. For a new message, in the same transaction, write down that it
    may be sent from now on (so a crash mid-send is looked for, never re-sent blind), checking and
    renewing the lease: a worker whose lease ran out must not send what another now owns."""
    if gap <= 0 and row.action not in NEW_MESSAGE:
        # An edit takes no turn and writes nothing: a read, without the write lock.
        with engine.connect() as conn:
            return pace.take_turn(conn, row.platform, row.target, gap)
    with writing(engine) as conn:
        turn = pace.take_turn(conn, row.platform, row.target, gap)
        if turn.wait > 0 or row.action not in NEW_MESSAGE:
            return turn
        mine = conn.execute(_may_be_sent(engine.dialect.name),
                            {"row_id": row.id, "me": me, "until": utcnow() + LEASE}).rowcount
        if mine != 1:
            raise _LeaseLost()  # rolls back: the turn goes back to the target
        return turn


def _database_now(engine: Engine) -> float:
    with engine.connect() as conn:
        return pace.now_seconds(conn)


def _backoff(attempts: int) -> timedelta:
    return min(MAX_BACKOFF, timedelta(seconds=2 ** min(attempts, 10)))


@dataclass(frozen=True)
class _Outcome:
    """What became of one row in a pass: `progress` when a platform was called or the row was
    settled; `wait` > 0 when its target must wait that long (the rest of the target's rows too)."""

    sent: bool = False
    progress: bool = True
    wait: float = 0.0


SENT = _Outcome(sent=True)
DONE = _Outcome()
PUT_BACK = _Outcome(progress=False)


class Deliverer(Worker):
    """Drains the outbox through one port per platform."""

    what = "outbox worker"

    def __init__(self, engine: Engine, ports: list[ChatPort], *, me: str | None = None, batch: int = 200,
                 prepare: Callable[[OutboxMessage], dict[str, Any] | None] | None = None,
                 run: Runner | None = None):
        super().__init__(engine, run=run)
        # Builds a payload at delivery time for rows queued without one (the App Home, which must
        # show the state when it is published, not when the refresh was asked for).
        self.prepare = prepare
        self.ports = {p.platform: p for p in ports}
        self.me = me or worker_id()
        self.batch = batch
        # One pass at a time (run_forever and a scheduled run-due share a worker): two passes of one
        # worker would both count as "this worker" in the claim, and could take one target twice.
        self._passing = asyncio.Lock()

    async def drain(self, *, now: datetime | None = None, until_empty: bool = True) -> int:
        """Deliver everything due; returns how many messages were sent. Stops when nothing is due,
        or when a pass only put rows back (their target or parent must wait: a later pass sends them)."""
        sent = 0
        async with self._passing:
            while True:
                rows = await self.run(_claim, self.engine, list(self.ports), self.me, now or utcnow(), self.batch)
                if not rows:
                    return sent
                n, progress = await self._deliver_batch(rows, now)
                sent += n
                if not until_empty or not progress:
                    return sent

    async def _deliver_batch(self, rows: list[OutboxMessage], now: datetime | None) -> tuple[int, bool]:
        by_target: dict[tuple[str, str], list[OutboxMessage]] = {}
        for r in rows:
            by_target.setdefault((r.platform, r.target), []).append(r)
        results = await asyncio.gather(*(self._deliver_target(k, rs, now) for k, rs in by_target.items()))
        return sum(n for n, _ in results), any(p for _, p in results)

    async def _deliver_target(self, key: tuple[str, str], rows: list[OutboxMessage],
                              now: datetime | None) -> tuple[int, bool]:
        port = self.ports[key[0]]
        sent, progress = 0, False
        while rows:
            blocked_until: datetime | None = None
            went_on = False
            for row in rows:
                if blocked_until is not None:
                    # The target is rate limited: the rest wait until the limit lifts, in order.
                    await self.run(self._put_back, row, blocked_until)
                    continue
                outcome = await self._deliver_one(port, row)
                sent += outcome.sent
                progress = progress or outcome.progress
                went_on = went_on or outcome.progress
                if outcome.wait > 0:
                    blocked_until = utcnow() + timedelta(seconds=outcome.wait)
            if blocked_until is not None or not went_on:
                break
            # Keep the target's pace: its next messages now, not after every other target of the batch.
            rows = await self.run(_claim, self.engine, [key[0]], self.me, now or utcnow(), PER_TARGET,
                                  target=key[1])
        return sent, progress

    def _put_back(self, row: OutboxMessage, at: datetime) -> None:
        """Return a row untried, due again at `at` (this claim does not count as an attempt)."""
        assert row.id is not None
        _finish(self.engine, row.id, self.me, attempts=row.attempts - 1, next_attempt_at=at)

    async def _deliver_one(self, port: ChatPort, row: OutboxMessage) -> _Outcome:
        assert row.id is not None
        parents = await self.run(_parents, self.engine, {k for k in (row.thread_key, row.anchor_key) if k})
        thread = anchor = None
        for key, what in ((row.thread_key, "replies to"), (row.anchor_key, "edits")):
            if not key:
                continue
            status, where = parents.get(key, ("missing", None))
            if status == "pending":
                # The message this one threads under or edits has not gone out yet.
                await self.run(self._put_back, row, utcnow() + timedelta(seconds=1))
                return PUT_BACK
            if where is None:
                reason = (f"the message it {what} ({key}) is no longer on record" if status == "missing"
                          else f"the message it {what} ({key}) was never delivered ({status})")
                await self.run(_finish, self.engine, row.id, self.me, status="failed", last_error=reason)
                return DONE
            if key == row.thread_key:
                thread = where
            else:
                anchor = where
        try:
            if not row.payload:
                payload = await self.run(self.prepare, row) if self.prepare is not None else None
                if payload is None:
                    await self.run(_finish, self.engine, row.id, self.me, status="superseded")
                    return DONE
                row.payload = payload
            if row.maybe_sent and row.action in NEW_MESSAGE:
                looked = await self._look_first(port, row, thread)
                if looked is not None:
                    return looked
            gap = port.pace(row.action)
            while True:
                try:
                    turn = await self.run(_take_turn, self.engine, row, self.me, gap)
                except _LeaseLost:
                    log.warning("outbox %s: lease ran out before sending; another worker has it", row.dedupe_key)
                    return PUT_BACK
                if turn.wait <= 0:
                    break
                if turn.wait > WAIT_IN_PLACE:
                    await self.run(self._put_back, row, utcnow() + timedelta(seconds=turn.wait))
                    return _Outcome(progress=False, wait=turn.wait)
                await asyncio.sleep(turn.wait)
            done = await port.send(row, thread=thread, anchor=anchor)
        except RetryLater as exc:
            return await self._retry(port, row, exc)
        except PermanentFailure as exc:
            log.error("outbox %s: failed for good: %s", row.dedupe_key, exc)
            # The platform refused it outright: nothing was posted.
            await self.run(_finish, self.engine, row.id, self.me, status="failed", maybe_sent=False,
                             last_error=str(exc)[:2000], then=self._answered(port, row))
            return DONE
        except Exception as exc:  # one bad message never stops the rest
            # Unknown: maybe_sent stays as the turn wrote it (True for a new message), so the next
            # attempt looks first.
            log.exception("outbox %s: unexpected error", row.dedupe_key)
            await self.run(_finish, self.engine, row.id, self.me, last_error=repr(exc)[:2000],
                             next_attempt_at=utcnow() + _backoff(row.attempts))
            return DONE
        await self.run(_finish, self.engine, row.id, self.me, status="sent", sent_channel=done.channel,
                         sent_ref=done.ref, sent_at=utcnow(), last_error=None, maybe_sent=False,
                         then=self._answered(port, row))
        return SENT

    async def _look_first(self, port: ChatPort, row: OutboxMessage, thread: Delivered | None) -> _Outcome | None:
        """An earlier attempt may have reached the platform: ask it before sending again. Returns
        the outcome when the row is settled or must wait; None when the platform answered that the
        message is not there (send it). Until the platform answers, the row keeps `maybe_sent`."""
        assert row.id is not None
        if row.settle_until is not None:
            wait = row.settle_until - await self.run(_database_now, self.engine)
            if wait > WAIT_IN_PLACE:
                await self.run(self._put_back, row, utcnow() + timedelta(seconds=wait))
                return PUT_BACK
            if wait > 0:
                await asyncio.sleep(wait)
        try:
            found = await port.find_sent(row, thread=thread)
        except RetryLater as exc:
            # A look-up that was not answered (a 429, a 5xx, a timeout) settles nothing.
            delay = timedelta(seconds=exc.after) if exc.after is not None else _backoff(row.attempts)
            log.warning("outbox %s: look-up failed, retry in %ss: %s", row.dedupe_key, delay.total_seconds(), exc)
            await self.run(_finish, self.engine, row.id, self.me, last_error=f"look-up: {exc}"[:2000],
                             next_attempt_at=utcnow() + delay)
            return DONE
        if found is None:
            return None
        log.info("outbox %s: an earlier attempt had reached the platform; not sending again", row.dedupe_key)
        await self.run(_finish, self.engine, row.id, self.me, status="sent", sent_channel=found.channel,
                         sent_ref=found.ref, sent_at=utcnow(), last_error=None, maybe_sent=False)
        return SENT

    def _answered(self, port: ChatPort, row: OutboxMessage) -> Callable[[Connection], None]:
        gap = port.pace(row.action)
        return lambda s: pace.answered(s, row.platform, row.target, gap)

    async def _retry(self, port: ChatPort, row: OutboxMessage, exc: RetryLater) -> _Outcome:
        assert row.id is not None
        delay = timedelta(seconds=exc.after) if exc.after is not None else _backoff(row.attempts)
        log.warning("outbox %s: retry in %ss: %s", row.dedupe_key, delay.total_seconds(), exc)
        values: dict[str, Any] = {"last_error": str(exc)[:2000], "next_attempt_at": utcnow() + delay}
        if row.action in NEW_MESSAGE:
            # The turn wrote maybe_sent before sending; only an answer saying nothing was done clears it.
            values["maybe_sent"] = exc.maybe_sent
            if exc.unanswered and port.settle > 0:
                values["settle_until"] = database_seconds(self.engine.dialect.name) + port.settle
        answered = self._answered(port, row)

        def then(s: Connection) -> None:
            answered(s)
            if exc.after is not None:
                # Every worker waits this out, not only this one.
                pace.hold(s, row.platform, row.target, exc.after)

        await self.run(_finish, self.engine, row.id, self.me, then=then, **values)
        return _Outcome(wait=exc.after) if exc.after is not None else DONE
