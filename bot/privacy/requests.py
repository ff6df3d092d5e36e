"""Erasure requests made in chat: confirmed in a dialog, then carried out by the next due run (a form must
be answered within seconds; an erasure reads every table). Each is carried out once: a run leases
it, and a run that died part-way is taken up again when its lease ends (erasing twice is harmless).
The email and customer id are cleared from the request when it is done; the requester gets a DM
with the counts.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, select, update
from sqlmodel import Session

from bot.chat.messages import Message, Section, plain
from bot.config import Workspace
from bot.machinery.queueing import enqueue
from bot.privacy.erase import erase
from bot.privacy.holdings import Subject
from storage.db import session_scope
from storage.models import Member
from storage.models_privacy import ErasureRequest
from storage.types import utcnow

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=15)
MAX_ATTEMPTS = 5
PER_RUN = 20


def queue(session: Session, subject: Subject, *, actor_id: int | None, via: str) -> ErasureRequest:
    req = ErasureRequest(requested_by=actor_id, requested_via=via, email=subject.email,
                         customer_id=subject.customer_id)
    session.add(req)
    session.flush()
    return req


def _lease(engine: Engine, now: datetime) -> ErasureRequest | None:
    """Take the oldest request due (pending, or leased by a run that died)."""
    r = ErasureRequest
    with session_scope(engine) as s:
        for req in s.scalars(select(r).where(r.status == "pending", or_(r.locked_until.is_(None), r.locked_until < now))  # type: ignore[union-attr]
                             .order_by(r.id).limit(5)):
            took = s.execute(update(r).where(r.id == req.id, r.status == "pending",
                                             or_(r.locked_until.is_(None), r.locked_until < now))  # type: ignore[union-attr]
                             .values(locked_until=now + LEASE, attempts=r.attempts + 1)).rowcount
            if took == 1:
                s.refresh(req)
                s.expunge(req)
                return req
    return None


def done_message(req_id: int, counts: dict[str, int]) -> Message:
    parts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, v in counts.items() if (n := v))
    text = f"🔒 Erasure request #{req_id} is done: {parts or 'nothing was held'}."
    return Message(text=text, blocks=[Section(spans=[plain(text)])])


def carry_out(engine: Engine, ws: Workspace, now: datetime) -> int:
    """Carry out the pending erasure requests; returns how many were done."""
    done = 0
    for _ in range(PER_RUN):
        req = _lease(engine, now)
        if req is None:
            break
        assert req.id is not None
        try:
            result = erase(engine, ws, Subject(email=req.email, customer_id=req.customer_id),
                           actor_id=req.requested_by, via=req.requested_via, now=now)
        except Exception as exc:
            log.exception("erasure request %s failed", req.id)
            with session_scope(engine) as s:
                row = s.get(ErasureRequest, req.id)
                if row is not None:
                    row.last_error = repr(exc)[:2000]
                    row.locked_until = None
                    if row.attempts >= MAX_ATTEMPTS:
                        row.status = "failed"
                    s.add(row)
            continue
        with session_scope(engine) as s:
            row = s.get(ErasureRequest, req.id)
            if row is None:
                continue
            row.status, row.done_at, row.counts = "done", utcnow(), result.counts
            row.email = row.customer_id = None
            row.locked_until, row.last_error = None, None
            s.add(row)
            who = s.get(Member, row.requested_by) if row.requested_by else None
            if who is not None:
                from bot.cases.notify import member_targets

                for platform, user in member_targets(who):
                    enqueue(s, key=f"{platform}:privacy:request:{req.id}:done", platform=platform, action="dm",
                            target=user, message=done_message(req.id, result.counts))
        done += 1
    return done
