"""Intake refuses an erased customer's old answers: a survey tool's retry, a re-sent webhook, a re-imported CSV.

An answer is theirs when its email or customer id has the keyed hash of an erased one, or when it is
a response already erased on request (same source and id). It is refused when it was given up to the
erasure; an answer given after it is new data, freely given, and stored as usual.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from bot.privacy import keys
from storage.models import SurveyResponse
from storage.models_privacy import ErasedIdentity, ResponseRedaction

REASON = "this customer's data was erased on request; their earlier answers are not taken in again"


def _any_erased(session: Session) -> keys.ErasureKey | None:
    """This process's key when erasures are on record (None when there are none)."""
    if session.scalars(select(ErasedIdentity.id).limit(1)).first() is None:
        return None
    key = keys.current()
    if key is None:
        raise keys.MissingKey(f"Customers were erased on request, and {keys.ENV} is not set: without it cxloop "
                              "cannot tell whether an answer is theirs. Set it to the key used for the erasures.")
    other = session.scalars(select(ErasedIdentity.key_id).where(ErasedIdentity.key_id != key.id).limit(1)).first()
    if other is not None:
        raise keys.MissingKey(f"Customers were erased under another {keys.ENV} (key id {other}); this process has "
                              f"key id {key.id}. Set it back to the key used for the erasures.")
    return key


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at


def erased_until(session: Session, key: keys.ErasureKey, email: str | None, customer_id: str | None) -> datetime | None:
    """When this email or customer id was last erased (None: never)."""
    digests = [d for d in (key.digest(keys.EMAIL, email), key.digest(keys.CUSTOMER_ID, customer_id)) if d]
    if not digests:
        return None
    found = [_aware(a) for a in session.scalars(select(ErasedIdentity.erased_at).where(ErasedIdentity.digest.in_(digests)))]
    return max(found) if found else None


def refused(session: Session, *, email: str | None, customer_id: str | None, responded_at: datetime) -> bool:
    """Whether an answer given at `responded_at` by this email or customer id is an erased customer's."""
    key = _any_erased(session)
    if key is None:
        return False
    until = erased_until(session, key, email, customer_id)
    return until is not None and _aware(responded_at) <= until


def erased_on_request(session: Session, response_id: int | None) -> bool:
    """Whether this stored response was erased on request."""
    if response_id is None:
        return False
    red = session.get(ResponseRedaction, response_id)
    return red is not None and red.reason == "request"


def comment_removed(session: Session, response_id: int | None) -> bool:
    """Whether this stored response's comment was removed (on request or after its retention window)."""
    red = session.get(ResponseRedaction, response_id) if response_id is not None else None
    return red is not None and red.comment_at is not None


def refused_rows(session: Session, source: str, rows: list[tuple[Any, ...]],
                 decode_at: Any) -> set[int]:
    """Which of a CSV import batch's rows (bot/intake/csv_store.COLUMNS tuples) are an erased customer's."""
    out: set[int] = set()
    if (session.scalars(select(ResponseRedaction.response_id).where(ResponseRedaction.reason == "request")
                        .limit(1)).first() is None):
        return out  # nothing was ever erased on request
    exts = [r[1] for r in rows]
    erased_exts: set[str] = set()
    for i in range(0, len(exts), 500):
        erased_exts |= set(session.scalars(
            select(SurveyResponse.external_id).join(ResponseRedaction,
                                                    ResponseRedaction.response_id == SurveyResponse.id)
            .where(SurveyResponse.source == source, SurveyResponse.external_id.in_(exts[i:i + 500]),
                   ResponseRedaction.reason == "request")))
    key = _any_erased(session)
    wanted: dict[int, list[str]] = {}
    if key is not None:
        for n, r in enumerate(rows):
            d = [x for x in (key.digest(keys.EMAIL, r[7]), key.digest(keys.CUSTOMER_ID, r[5])) if x]
            if d:
                wanted[n] = d
    every = sorted({d for ds in wanted.values() for d in ds})
    when: dict[str, datetime] = {}
    for i in range(0, len(every), 500):
        for digest, at in session.execute(select(ErasedIdentity.digest, ErasedIdentity.erased_at)
                                          .where(ErasedIdentity.digest.in_(every[i:i + 500]))):
            when[digest] = max(_aware(at), when.get(digest, _aware(at)))
    for n, r in enumerate(rows):
        if r[1] in erased_exts:
            out.add(n)
            continue
        hits = [when[d] for d in wanted.get(n, ()) if d in when]
        if hits and _aware(decode_at(r[10])) <= max(hits):
            out.add(n)
    return out
