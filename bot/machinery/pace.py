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

from sqlalchemy import case, select, update
from sqlmodel import Session

from storage.clock import database_seconds
from storage.db import insert_missing
from storage.models import SendPace

PACE = SendPace.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Turn:
    """The answer to "may I send to this target now?": `wait` 0 means yes (the turn is taken)."""

    wait: float


def _now(session: Session):  # type: ignore[no-untyped-def]
    return database_seconds(session.get_bind().dialect.name)


def now_seconds(session: Session) -> float:
    """Now on the database's clock."""
    return float(session.execute(select(_now(session))).scalar_one())


def take_turn(session: Session, platform: str, target: str, gap: float) -> Turn:
    """Take the target's next turn, pushing its next send `gap` seconds ahead; or say how long to wait.

    With `gap` 0 (an edit, which Slack does not count as a post) only a Retry-After holds it back.
    Runs in the caller's transaction: if the caller rolls back, the turn is given back.
    """
    now = _now(session)
    key = (PACE.c.platform == platform) & (PACE.c.target == target)
    for _ in range(2):
        if gap > 0:
            taken = session.execute(
                update(PACE).where(key, PACE.c.next_at <= now, PACE.c.held_until <= now)
                .values(next_at=now + gap).returning(PACE.c.next_at)).first()
        else:
            taken = session.execute(select(PACE.c.held_until).where(key, PACE.c.held_until <= now)).first()
        if taken is not None:
            return Turn(0.0)
        row = session.execute(select(PACE.c.next_at, PACE.c.held_until, now).where(key)).first()
        if row is not None:
            next_at, held_until, at = row
            return Turn(max((next_at if gap > 0 else 0.0), held_until) - at)
        # The first send to this target anyone has made: its row, then the turn.
        insert_missing(session, PACE, [{"platform": platform, "target": target, "next_at": 0.0, "held_until": 0.0}],
                       unique=["platform", "target"])
    raise RuntimeError(f"could not take a send turn for {platform}:{target}")  # pragma: no cover


def answered(session: Session, platform: str, target: str, gap: float) -> None:
    """The platform answered a send just now: the next may go `gap` seconds after this answer.

    Measured from the answer as well as from the turn, so the platform never sees two sends closer
    than `gap`, whatever the latency between.
    """
    if gap <= 0:
        return
    now = _now(session)
    session.execute(update(PACE).where(PACE.c.platform == platform, PACE.c.target == target)
                    .values(next_at=case((PACE.c.next_at < now + gap, now + gap), else_=PACE.c.next_at)))


def hold(session: Session, platform: str, target: str, seconds: float) -> None:
    """The platform said to wait `seconds` (a 429's Retry-After): nobody sends to the target before then."""
    now = _now(session)
    insert_missing(session, PACE, [{"platform": platform, "target": target, "next_at": 0.0, "held_until": 0.0}],
                   unique=["platform", "target"])
    session.execute(update(PACE).where(PACE.c.platform == platform, PACE.c.target == target)
                    .values(held_until=case((PACE.c.held_until < now + seconds, now + seconds),
                                            else_=PACE.c.held_until)))
