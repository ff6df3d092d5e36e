"""One pace per chat target, shared by every worker on every machine.

Slack allows about one post a second in a channel and Teams seven messages a second in a
conversation. A worker that paced itself alone would let three replicas post three times as fast,
so each target's next allowed send time lives in the database (`send_pace`), and a worker takes
its turn with one atomic compare-and-set: `UPDATE … SET next_at = now + gap WHERE next_at <= now`.
Whoever's UPDATE matched a row has the turn; everyone else is told how long to wait. PostgreSQL
re-checks the WHERE clause after waiting for the row lock, and SQLite writers are serialised
(BEGIN IMMEDIATE), so two workers never both get the same turn. A 429's Retry-After goes in the
same row (`held_until`), so every worker waits it out, not only the one that was told.

All times are the database's clock (storage/clock.py `database_seconds`): the one clock all the
workers share, whatever their own clocks say.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Float, bindparam, case, select, update
from sqlmodel import Session

from storage.clock import database_seconds
from storage.db import dialect_of, insert_missing
from storage.models import SendPace

PACE = SendPace.__table__  # type: ignore[attr-defined]
_KEY = (PACE.c.platform == bindparam("b_platform")) & (PACE.c.target == bindparam("b_target"))
Bind = Session | Connection  # a session or a connection, in the caller's transaction


@dataclass(frozen=True)
class Turn:
    """The answer to "may I send to this target now?": `wait` 0 means yes (the turn is taken)."""

    wait: float


@lru_cache(maxsize=None)
def _statements(dialect: str) -> dict[str, Any]:
    """This module's statements for one database, built once: a worker runs them for every send."""
    now = database_seconds(dialect)
    gap, seconds = bindparam("gap", type_=Float), bindparam("seconds", type_=Float)
    return {
        "now": select(now),
        "take": (update(PACE).where(_KEY, PACE.c.next_at <= now, PACE.c.held_until <= now)
                 .values(next_at=now + gap).returning(PACE.c.next_at)),
        "wait": select(PACE.c.next_at, PACE.c.held_until, now).where(_KEY),
        "answered": update(PACE).where(_KEY).values(
            next_at=case((PACE.c.next_at < now + gap, now + gap), else_=PACE.c.next_at)),
        "hold": update(PACE).where(_KEY).values(
            held_until=case((PACE.c.held_until < now + seconds, now + seconds), else_=PACE.c.held_until)),
    }


def _new_target(bind: Bind, platform: str, target: str) -> None:
    insert_missing(bind, PACE, [{"platform": platform, "target": target, "next_at": 0.0, "held_until": 0.0}],
                   unique=["platform", "target"])


def now_seconds(bind: Bind) -> float:
    """Now on the database's clock."""
    return float(bind.execute(_statements(dialect_of(bind))["now"]).scalar_one())


def held(bind: Bind, platform: str, target: str) -> Turn:
    """For a send that takes no turn (an edit): how long a Retry-After still holds the target. A read only:
    a target nobody was ever told to wait for has no row, and nothing holds it."""
    row = bind.execute(_statements(dialect_of(bind))["wait"], {"b_platform": platform, "b_target": target}).first()
    return Turn(max(0.0, row[1] - row[2]) if row is not None else 0.0)


def take_turn(bind: Bind, platform: str, target: str, gap: float) -> Turn:
    """Take the target's next turn, pushing its next send `gap` seconds ahead; or say how long to wait.

    With `gap` 0 (an edit, which Slack does not count as a post) there is no turn to take: only a
    Retry-After holds it back (`held`). Runs in the caller's transaction: if the caller rolls back,
    the turn is given back.
    """
    if gap <= 0:
        return held(bind, platform, target)
    sql = _statements(dialect_of(bind))
    where = {"b_platform": platform, "b_target": target}
    for _ in range(2):
        if bind.execute(sql["take"], {**where, "gap": gap}).first() is not None:
            return Turn(0.0)
        row = bind.execute(sql["wait"], where).first()
        if row is not None:
            next_at, held_until, at = row
            return Turn(max(next_at, held_until) - at)
        # The first send to this target anyone has made: its row, then the turn.
        _new_target(bind, platform, target)
    raise RuntimeError(f"could not take a send turn for {platform}:{target}")  # pragma: no cover


def answered(bind: Bind, platform: str, target: str, gap: float) -> None:
    """The platform answered a send just now: the next may go `gap` seconds after this answer.

    Measured from the answer as well as from the turn, so the platform never sees two sends closer
    than `gap`, whatever the latency between.
    """
    if gap <= 0:
        return
    bind.execute(_statements(dialect_of(bind))["answered"], {"b_platform": platform, "b_target": target, "gap": gap})


def hold(bind: Bind, platform: str, target: str, seconds: float) -> None:
    """The platform said to wait `seconds` (a 429's Retry-After): nobody sends to the target before then."""
    _new_target(bind, platform, target)
    bind.execute(_statements(dialect_of(bind))["hold"], {"b_platform": platform, "b_target": target, "seconds": seconds})
