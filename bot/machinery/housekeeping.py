"""Housekeeping: the records of finished work are deleted once they are older than the retention.

Handled inbox items, finished outbox rows (sent, superseded, failed) and processed event ids are
only needed for a while: to answer a retry, to explain a failure, to find what a message replies
to. `cxloop run-due` deletes those older than `retention.delivery` (default 14 days), a batch at a
time so no transaction holds the tables for long, and leaves alone everything still in flight:
pending and leased rows, any message a pending row replies to or edits, and the alert and the
owner's DM of every case (a case can change, or be reopened, long after it was opened, and its
alert is then edited in place), the post of every improvement (edited, and replied to, for months),
and any message that shows customer data (it belongs to a case, or
quotes someone, or names its customer): an erasure or a retention window (bot/privacy/) must still find it to edit it. Those
are marked in `customer_message` as they age. The per-target send pace rows of targets idle that
long go too. `expire` applies the customer-data windows (`retention.customer_details`, `comments`,
`raw_bodies`; bot/privacy/retention.py) on the same run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Workspace

from sqlalchemy import Engine, String, and_, cast, delete, exists, func, or_, select
from sqlalchemy.orm import aliased

from storage.clock import database_seconds
from storage.db import session_scope
from storage.models import Case, Improvement, InboxItem, OutboxMessage, ProcessedEvent, SendPace, SurveyResponse
from storage.models_privacy import CustomerMessage

BATCH = 1000
# A backlog (the first run after an upgrade, a long outage) is worked off over several runs.
MAX_BATCHES = 50
FINISHED = ("sent", "superseded", "failed")


def _delete_in_batches(engine: Engine, table, ids) -> int:  # type: ignore[no-untyped-def]
    """Delete the rows `ids` (a SELECT of ids, oldest first) selects, BATCH at a time."""
    total = 0
    for _ in range(MAX_BATCHES):
        with session_scope(engine) as s:
            # correlate(None): the SELECT reads the same table the DELETE names, and must not be folded into it.
            n = s.execute(delete(table).where(
                table.c.id.in_(ids.correlate(None).limit(BATCH).scalar_subquery()))).rowcount
        total += n
        if n < BATCH:
            break
    return total


def _case_anchor():  # type: ignore[no-untyped-def]
    """The outbox row is the alert or the current owner's DM of a case still on record."""
    o = OutboxMessage
    # bot.cases.notify's keys, in SQL: alert_key(platform, case id), and "{platform}:{case.dm_key}".
    alert = o.platform + ":case:" + cast(Case.id, String) + ":alert"
    return exists().where(Case.id == o.case_id,
                          or_(o.dedupe_key == alert, o.dedupe_key == o.platform + ":" + Case.dm_key))


def _improvement_anchor():  # type: ignore[no-untyped-def]
    """The outbox row is the post of an improvement still on record (bot/improvement/notify.py `post_key`)."""
    o = OutboxMessage
    return exists().where(o.dedupe_key == o.platform + ":improvement:" + cast(Improvement.id, String))


def _mark_customer_messages(engine: Engine, old: tuple) -> int:  # type: ignore[type-arg]
    """Mark the aging outbox rows that show customer data, so the delete below keeps them. Only
    messages (posts, DMs): an edit is a version of one, and a case's alert and DM, kept anyway, are
    edited by rendering them again."""
    from bot.privacy.chat import mark_customer_messages

    o = OutboxMessage
    total, last = 0, 0
    for _ in range(MAX_BATCHES):
        with session_scope(engine) as s:
            # Aliases: the conditions correlate with Case themselves.
            c, r = aliased(Case), aliased(SurveyResponse)
            rows = s.execute(select(o.id, o.payload, r.customer_name, r.customer_email, r.customer_id)
                             .select_from(o).outerjoin(c, c.id == o.case_id)
                             .outerjoin(r, r.id == c.response_id)
                             .where(*old, o.action.in_(("post", "dm")), o.id > last)
                             .order_by(o.id).limit(BATCH)).all()
            if rows:
                total += mark_customer_messages(s, [tuple(r) for r in rows])
        if len(rows) < BATCH:
            break
        last = rows[-1][0]
    return total


def expire(engine: Engine, ws: Workspace, *, now: datetime) -> dict[str, int]:
    """Erase the customers' data older than its window (the windows that are set); per window, how many.

    Once an hour at most: each batch reads every table that could quote a customer, and the windows
    are days long. A run that fails part-way leaves the rest to the next hour."""
    from bot.machinery.schedule import claim
    from bot.privacy.retention import expire as expire_windows

    r = ws.retention
    if r.customer_details is None and r.comments is None and r.raw_bodies is None:
        return {}
    with session_scope(engine) as s:
        if not claim(s, f"retention:customer-data:{now:%Y-%m-%dT%H}"):
            return {}
    return expire_windows(engine, ws, now)


def prune(engine: Engine, *, keep: timedelta, now: datetime) -> dict[str, int]:
    """Delete finished work records older than `keep` at `now`; returns how many rows, per table."""
    cutoff = now - keep
    out: dict[str, int] = {}

    inbox = InboxItem.__table__  # type: ignore[attr-defined]
    out["inbox"] = _delete_in_batches(engine, inbox, select(inbox.c.id).where(
        inbox.c.status.in_(("done", "failed")), inbox.c.done_at < cutoff).order_by(inbox.c.id))

    o = OutboxMessage
    waiting = aliased(OutboxMessage)
    needed_by_pending = exists().where(waiting.status == "pending",
                                       or_(waiting.thread_key == o.dedupe_key, waiting.anchor_key == o.dedupe_key))
    outbox = o.__table__  # type: ignore[attr-defined]
    marked = exists().where(CustomerMessage.outbox_id == o.id)
    old = (o.status.in_(FINISHED), o.next_attempt_at < cutoff,  # next_attempt_at: the index's column
           func.coalesce(o.sent_at, o.next_attempt_at) < cutoff, ~needed_by_pending, ~_case_anchor(),
           ~_improvement_anchor(), ~marked)
    _mark_customer_messages(engine, old)
    out["outbox"] = _delete_in_batches(engine, outbox, select(o.id).where(*old).order_by(o.id))

    events = ProcessedEvent.__table__  # type: ignore[attr-defined]
    out["processed_event"] = _delete_in_batches(engine, events, select(events.c.id).where(
        events.c.at < cutoff).order_by(events.c.id))

    # Pace rows are physical time, on the database's clock; a target idle this long has no pace left.
    pace = SendPace.__table__  # type: ignore[attr-defined]
    with session_scope(engine) as s:
        idle_since = database_seconds(engine.dialect.name) - keep.total_seconds()
        out["send_pace"] = s.execute(delete(pace).where(and_(pace.c.next_at < idle_since,
                                                             pace.c.held_until < idle_since))).rowcount
    return out
