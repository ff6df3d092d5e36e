"""Erasing a customer's data everywhere it went: on request (GDPR article 17), or when a retention window
(bot/privacy/retention.py) says it is old enough.

What the scores need stays (the survey, score, times, touchpoint and team of every response, the
cases' statuses, times and root causes, the responses' themes), so every figure for any period is
unchanged. Everything else that identifies them or holds their words is removed or overwritten with
a line saying so: the response's identity, comment and raw body; notes on their cases; quotes of
them in stories, shout-outs and other cases' notes; the assistant's cached answers; the outbox and
inbox; and, through the outbox, every chat message that showed them. An erasure on request also
remembers a keyed hash of their email and customer id (bot/privacy/guard.py refuses their old
answers when they come again) and is recorded in the audit log with counts only.

The rows are found first (short read transactions, so the server keeps working), then changed in
one transaction; chat copies after. Running it again finds nothing left to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Table, delete, select, update
from sqlmodel import Session, SQLModel

from bot.cases.notify import refresh_alert, refresh_homes
from bot.config import Workspace
from bot.people.roster import team_managers, team_members
from bot.privacy import chat, keys
from bot.privacy.holdings import (NOTE_KEYS, Holdings, Subject, fingerprint, gather, mentioned, responses_of,
                                  text_columns)
from bot.privacy.text import ERASED, Fingerprint, scrub, scrub_text
from storage.db import session_scope
from storage.models import AssistResult, AuditEntry, Case, CaseEvent, CaseStep, Shoutout, Story, SurveyResponse
from storage.models_privacy import ErasedIdentity, ResponseRedaction
from storage.types import utcnow

AUDIT_ACTION = "privacy.erase"


@dataclass(frozen=True)
class Parts:
    """What to remove from each response: its customer's identity, their words, the raw body."""

    details: bool = True
    comment: bool = True
    raw: bool = True


ALL = Parts()


def _field(value: str | None, fp: Fingerprint, marker: str, *, whole: bool) -> str | None:
    if value is None or value == marker:
        return value
    return marker if whole else scrub_text(value, fp, marker, own=True)


def _scrub_json(value: Any, fp: Fingerprint, marker: str, *, own: bool, whole: bool) -> Any:
    if value is None:
        return value
    if whole and isinstance(value, dict):
        value = {k: (marker if k in NOTE_KEYS and isinstance(v, str) and v else v) for k, v in value.items()}
    return scrub(value, fp, marker, own=own)[0]


def _apply_own(s: Session, h: Holdings, fp: Fingerprint, parts: Parts, marker: str, now: datetime,
               reason: str) -> dict[str, int]:
    """Their own rows: the responses, their cases, steps, history, customer praise, cached answers."""
    n: dict[str, int] = {}
    words = parts.comment
    for r in h.responses:
        row = s.get(SurveyResponse, r.id)
        if row is None:
            continue
        if parts.details:
            row.customer_name = row.customer_email = row.customer_id = None
        if parts.comment:
            row.comment = None
        # The raw body holds their identity and their words too: it goes with either.
        row.raw = None
        s.add(row)
        red = s.get(ResponseRedaction, r.id) or ResponseRedaction(response_id=r.id, reason=reason)
        if reason == "request":
            red.reason = reason
        red.details_at = red.details_at or (now if parts.details else None)
        red.comment_at = red.comment_at or (now if parts.comment else None)
        red.raw_at = red.raw_at or now
        s.add(red)
    n["responses"] = len(h.responses)
    for c in h.cases:
        row = s.get(Case, c.id)
        if row is None:
            continue
        before = (row.loop_closed_note, row.close_reason, row.snooze_reason)
        row.loop_closed_note = _field(row.loop_closed_note, fp, marker, whole=words)
        row.close_reason = _field(row.close_reason, fp, marker, whole=words)
        row.snooze_reason = _field(row.snooze_reason, fp, marker, whole=words)
        n["cases"] = n.get("cases", 0) + (before != (row.loop_closed_note, row.close_reason, row.snooze_reason))
        s.add(row)
    for st in h.steps:
        row = s.get(CaseStep, st.id)
        if row is not None and row.note and row.note != marker:
            new = _field(row.note, fp, marker, whole=words)
            if new != row.note:
                row.note = new
                n["case_steps"] = n.get("case_steps", 0) + 1
                s.add(row)
    for ev in h.events:
        row = s.get(CaseEvent, ev.id)
        if row is not None and row.detail:
            new = _scrub_json(row.detail, fp, marker, own=True, whole=words)
            if new != row.detail:
                row.detail = new
                n["case_events"] = n.get("case_events", 0) + 1
                s.add(row)
    for so in h.shoutouts:
        row = s.get(Shoutout, so.id)
        if row is not None and row.text != marker:
            new = _field(row.text, fp, marker, whole=words)
            if new != row.text:
                row.text = new  # type: ignore[assignment]
                n["shoutouts"] = n.get("shoutouts", 0) + 1
                s.add(row)
    subjects = [f"response:{i}" for i in h.response_ids] + [f"case:{i}" for i in h.case_ids]
    if subjects and (parts.details or parts.comment):
        gone = s.execute(delete(AssistResult).where(AssistResult.subject.in_(subjects))).rowcount  # type: ignore[attr-defined]
        n["assist_results"] = n.get("assist_results", 0) + gone
    for name, pks in h.linked.items():
        n[name] = n.get(name, 0) + _scrub_table(s, SQLModel.metadata.tables[name], pks, fp, marker, own=True,
                                                whole=words)
    return n


def _scrub_table(s: Session, table: Table, pks: list[tuple[Any, ...]], fp: Fingerprint, marker: str, *,
                 own: bool, whole: bool = False) -> int:
    """Overwrite what marks them in the text columns of these rows (another feature's table); with
    `whole` (their words are erased, and these rows are theirs), every note-like column entirely."""
    cols = text_columns(table)
    if not cols:
        return 0
    pk = list(table.primary_key.columns)
    changed = 0
    for key in pks:
        cond = [c == v for c, v in zip(pk, key)]
        row = s.execute(select(*cols).where(*cond)).mappings().first()
        if row is None:
            continue
        values = {}
        for c in cols:
            v = row[c.name]
            if isinstance(v, str) and whole and c.name in NOTE_KEYS:
                new = marker if v else v
            elif isinstance(v, str):
                new = scrub_text(v, fp, marker, own=own)
            else:
                new = scrub(v, fp, marker, own=own)[0] if v is not None else None
            if new != v:
                values[c.name] = new
        if values:
            s.execute(update(table).where(*cond).values(**values))
            changed += 1
    return changed


def _apply_mentions(s: Session, found: dict[str, list[tuple[Any, ...]]], fp: Fingerprint,
                    marker: str) -> dict[str, int]:
    """Copies of them outside their own rows: other cases' notes, stories, kudos, cached answers."""
    n: dict[str, int] = {}
    for name, pks in found.items():
        ids = [k[0] for k in pks]
        if name == "assist_result":
            n[name] = s.execute(delete(AssistResult).where(AssistResult.id.in_(ids))).rowcount  # type: ignore[attr-defined]
            continue
        if name in ("case_step", "shoutout", "story"):
            model: Any = {"case_step": CaseStep, "shoutout": Shoutout, "story": Story}[name]
            attr = "note" if name == "case_step" else "text"
            for row in s.scalars(select(model).where(model.id.in_(ids))):
                setattr(row, attr, scrub_text(getattr(row, attr), fp, marker))
                s.add(row)
            n[name] = len(ids)
            continue
        if name == "case_event":
            for row in s.scalars(select(CaseEvent).where(CaseEvent.id.in_(ids))):  # type: ignore[attr-defined]
                row.detail = scrub(row.detail, fp, marker)[0]
                s.add(row)
            n[name] = len(ids)
            continue
        if name == "cx_case":
            for row in s.scalars(select(Case).where(Case.id.in_(ids))):  # type: ignore[attr-defined]
                row.loop_closed_note = scrub_text(row.loop_closed_note, fp, marker)
                row.close_reason = scrub_text(row.close_reason, fp, marker)
                row.snooze_reason = scrub_text(row.snooze_reason, fp, marker)
                s.add(row)
            n[name] = len(ids)
            continue
        n[name] = _scrub_table(s, SQLModel.metadata.tables[name], pks, fp, marker, own=False)
    return n


def erase_responses(engine: Engine, ws: Workspace, response_ids: list[int], *, parts: Parts = ALL,
                    marker: str = ERASED,
                    reason: str = "request", now: datetime | None = None,
                    extra: Fingerprint | None = None) -> dict[str, int]:
    """Erase `parts` of these responses everywhere they went; returns how many records, per kind."""
    now = now or utcnow()
    with Session(engine) as s:
        rows = list(s.scalars(select(SurveyResponse).where(SurveyResponse.id.in_(response_ids))))  # type: ignore[attr-defined]
        h = gather(s, rows)
        s.expunge_all()
    fp = fingerprint(h, identity=parts.details, words=parts.comment, notes=parts.comment)
    if extra is not None:
        for size, grams in extra.strong.items():
            fp.strong.setdefault(size, set()).update(grams)
        fp.weak.update({k: fp.weak.get(k, set()) | v for k, v in extra.weak.items()})
    found = mentioned(lambda: Session(engine), fp, h)
    with session_scope(engine) as s:
        counts = _apply_own(s, h, fp, parts, marker, now, reason)
        for k, v in _apply_mentions(s, found, fp, marker).items():
            counts[k] = counts.get(k, 0) + v
    sent = chat.scrub_outbox(engine, fp, set(h.case_ids), marker, every_quote=parts.comment)
    counts["outbox_rows"] = sent.outbox_rows
    counts["messages_edited"] = sent.messages_edited
    if h.case_ids:
        # Their cases' alerts and owners' DMs are rendered again from what is left: they show the case
        # as it is now (an older version of the message may no longer be on record to edit).
        with session_scope(engine) as s:
            for cid in h.case_ids:
                case = s.get(Case, cid)
                if case is not None:
                    refresh_alert(s, ws, case)
        counts["alerts_edited"] = len(h.case_ids)
    if counts.get("shoutouts") or counts.get("shoutout"):
        # The App Home shows shout-outs (which may quote them): published again from what is left.
        with session_scope(engine) as s:
            for team in [t.key for t in ws.teams]:
                refresh_homes(s, [*team_members(s, team), *team_managers(s, team)])
    counts["inbox_rows"] = chat.scrub_inbox(engine, fp, marker)
    return {k: v for k, v in counts.items() if v}


@dataclass(frozen=True)
class Erasure:
    """What an erasure on request did: how many records of each kind (never what they held)."""

    counts: dict[str, int]
    audit_id: int | None

    @property
    def found(self) -> bool:
        return bool(self.counts.get("responses"))


def remember(session: Session, subject: Subject, responses: list[SurveyResponse], now: datetime) -> int:
    """Record keyed hashes of their emails and customer ids (once each); returns how many are new."""
    key = keys.require("Erasing a customer's data")
    values = {(keys.EMAIL, subject.email), (keys.CUSTOMER_ID, subject.customer_id)}
    for r in responses:
        values |= {(keys.EMAIL, r.customer_email), (keys.CUSTOMER_ID, r.customer_id)}
    added = 0
    for kind, value in sorted(values, key=lambda kv: (kv[0], kv[1] or "")):
        digest = key.digest(kind, value)
        if digest is None:
            continue
        row = session.scalars(select(ErasedIdentity).where(ErasedIdentity.kind == kind,
                                                           ErasedIdentity.digest == digest)).first()
        if row is None:
            session.add(ErasedIdentity(kind=kind, digest=digest, key_id=key.id, erased_at=now))
            added += 1
        else:
            # Answers given up to the latest erasure are refused.
            row.erased_at = max(row.erased_at, now)
            session.add(row)
    return added


def erase(engine: Engine, ws: Workspace, subject: Subject, *, actor_id: int | None, via: str,
          now: datetime | None = None) -> Erasure:
    """Erase everything held about `subject` (an erasure request); idempotent."""
    now = now or utcnow()
    keys.require("Erasing a customer's data")
    # Remembered first: an old answer of theirs arriving while this runs is refused, not stored anew.
    with session_scope(engine) as s:
        remembered = remember(s, subject, responses_of(s, subject), now)
    with Session(engine) as s:
        responses = responses_of(s, subject)
        s.expunge_all()
    extra = Fingerprint()
    extra.add_identity(email=subject.email, customer_id=subject.customer_id)
    # With no response stored under them they may still be quoted (a story, a note): those go too.
    counts = erase_responses(engine, ws, [r.id for r in responses if r.id is not None], now=now, extra=extra)
    counts["identities_remembered"] = remembered
    counts = {k: v for k, v in counts.items() if v}
    with session_scope(engine) as s:
        entry = AuditEntry(at=now, actor_id=actor_id, action=AUDIT_ACTION, target=f"customer via {via}"[:200],
                           old=None, new={"counts": counts})
        s.add(entry)
        s.flush()
        audit_id = entry.id
    return Erasure(counts=counts, audit_id=audit_id)
