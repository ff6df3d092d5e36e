"""Everything held about one customer, in every table: found by their email or customer id, or, for a
retention window, by the responses whose time is up.

A customer's own rows are found by their links (a response, its case, the case's steps and history,
a shout-out for the response, rows of other features that name the response or the case). Copies
elsewhere (a note on another case, a story, a colleague's kudos, the assistant's cached answers, a
feature's free text) are found by their words (bot/privacy/text.py). `TABLES` says, for every table,
how it is treated; tests/test_privacy_inventory.py checks that no table is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, Column, String, Table, Text, func, or_, select
from sqlmodel import Session, SQLModel

from bot.errors import BadInput
from bot.privacy.text import Fingerprint
from storage.models import AssistResult, Case, CaseEvent, CaseStep, Shoutout, Story, SurveyResponse

SCAN_BATCH = 2000

# How each table is treated. "linked": the customer's rows are found by their response or case;
# "scanned": any row may quote them; "kept": no customer's identity or words; "machinery": handled
# in bot/privacy/chat.py; "feature": another feature's table, handled the generic way: its rows are
# theirs when they name one of their responses or cases, or a row of theirs in another such table
# (a foreign key), and any row is scanned (its text columns). A table not named here is treated as a
# feature's, and the inventory test asks for it to be named.
TABLES: dict[str, str] = {
    "survey_response": "linked: identity, comment and raw body removed; survey, score, times, touchpoint, team kept",
    "cx_case": "linked: notes and reasons overwritten; statuses, times and root cause kept",
    "case_step": "linked (and scanned): notes overwritten; steps, times, agreement and root cause kept",
    "case_event": "linked (and scanned): notes and reasons in the history overwritten; who and when kept",
    "shoutout": "linked (customer praise) and scanned: the text overwritten; who was thanked and when kept",
    "story": "scanned: a story that names or quotes them is overwritten",
    "assist_result": "linked and scanned: cached answers about them or quoting them deleted",
    "response_theme": "kept: theme labels from the workspace's list, no words; by-theme scores stay the same",
    "outbox": "machinery: payloads scrubbed, the messages edited in chat",
    "inbox": "machinery: request bodies scrubbed",
    "customer_message": "machinery: marks kept outbox rows",
    "erased_identity": "kept: keyed hashes only",
    "response_redaction": "kept: what was removed and when",
    "erasure_request": "kept: the email or customer id is cleared when the request is done",
    "member": "kept: staff", "team_membership": "kept: staff", "team_setting": "kept: set-up",
    "audit_entry": "kept: staff changes; erasures are recorded with counts only",
    "conversation_ref": "kept: Teams conversations", "send_pace": "kept: delivery pace",
    "processed_event": "kept: delivery ids", "case_nudge": "kept: nudge times", "job_claim": "kept: job keys",
    "pledge": "kept: staff pledges", "assist_usage": "kept: token counts",
    "follow_up": "feature: linked by its response; no words of theirs (status, owner, times)",
    "follow_up_step": "feature: linked through its follow-up; the notes (what they said) overwritten",
    "case_recovery": "feature: linked by its case and response; scores and times only",
    "member_profile": "kept: staff names from the chat profile",
    "improvement": "feature: scanned (staff's titles, hypotheses and notes may quote a customer)",
    "improvement_action": "feature: scanned", "improvement_event": "feature: scanned",
    "improvement_measure": "feature: scanned (figures only)", "improvement_owner": "kept: staff",
    "huddle_dismissal": "kept: pattern keys (a theme, a root cause, a touchpoint)",
}


@dataclass(frozen=True)
class Subject:
    """Whom a request is about: an email, a customer id, or both (a response matching either is theirs)."""

    email: str | None = None
    customer_id: str | None = None

    @classmethod
    def of(cls, email: str | None = None, customer_id: str | None = None) -> Subject:
        email = (email or "").strip() or None
        customer_id = (customer_id or "").strip() or None
        if email is None and customer_id is None:
            raise BadInput("Say whose data: an email (dana@example.com) or a customer id.", field="email")
        if email is not None and ("@" not in email or len(email) > 320 or any(c.isspace() for c in email)):
            raise BadInput(f"{email[:80]!r} is not an email address.", field="email")
        if customer_id is not None and len(customer_id) > 200:
            raise BadInput("A customer id is at most 200 characters.", field="customer_id")
        return cls(email=email, customer_id=customer_id)

    def where(self) -> Any:
        r = SurveyResponse
        conds = []
        if self.email:
            conds.append(func.lower(r.customer_email) == self.email.lower())
        if self.customer_id:
            conds.append(r.customer_id == self.customer_id)
        return or_(*conds)


@dataclass
class Holdings:
    """One customer's rows (or a batch of responses'), loaded in one session."""

    responses: list[SurveyResponse] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    steps: list[CaseStep] = field(default_factory=list)
    events: list[CaseEvent] = field(default_factory=list)
    shoutouts: list[Shoutout] = field(default_factory=list)
    # Other features' rows that name one of the responses or cases: {table: [primary key values]}.
    linked: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)

    @property
    def response_ids(self) -> list[int]:
        return [r.id for r in self.responses if r.id is not None]

    @property
    def case_ids(self) -> list[int]:
        return [c.id for c in self.cases if c.id is not None]


def responses_of(session: Session, subject: Subject) -> list[SurveyResponse]:
    return list(session.scalars(select(SurveyResponse).where(subject.where()).order_by(SurveyResponse.id)))


def _chunks(ids: list[Any], n: int = 500) -> Iterator[list[Any]]:
    for i in range(0, len(ids), n):
        yield ids[i:i + n]


def other_tables() -> list[Table]:
    """Other features' tables (those TABLES calls "feature", or does not name), in dependency order."""
    import storage.models  # noqa: F401  (every table registered)

    return [t for t in SQLModel.metadata.sorted_tables if TABLES.get(t.name, "feature").startswith("feature")]


def _link_column(table: Table) -> tuple[Column[Any], str] | None:
    for name, kind in (("response_id", "response"), ("case_id", "case")):
        if name in table.c:
            return table.c[name], kind
    return None


def gather(session: Session, responses: list[SurveyResponse]) -> Holdings:
    """The rows linked to these responses: their cases, steps, history, shout-outs, other features' rows."""
    h = Holdings(responses=responses)
    rids = h.response_ids
    for part in _chunks(rids):
        h.cases += session.scalars(select(Case).where(Case.response_id.in_(part)).order_by(Case.id)).all()  # type: ignore[attr-defined]
        h.shoutouts += session.scalars(select(Shoutout).where(Shoutout.response_id.in_(part))).all()  # type: ignore[union-attr]
    cids = h.case_ids
    for part in _chunks(cids):
        h.steps += session.scalars(select(CaseStep).where(CaseStep.case_id.in_(part)).order_by(CaseStep.id)).all()  # type: ignore[attr-defined]
        h.events += session.scalars(select(CaseEvent).where(CaseEvent.case_id.in_(part)).order_by(CaseEvent.id)).all()  # type: ignore[attr-defined]
    for table in other_tables():  # in dependency order: a row's parent is looked at before it
        if not table.primary_key.columns:
            continue
        links: list[tuple[Column[Any], list[Any]]] = []
        link = _link_column(table)
        if link is not None:
            links.append((link[0], rids if link[1] == "response" else cids))
        for fk in table.foreign_keys:
            parent = fk.column.table
            if parent.name in h.linked and len(parent.primary_key.columns) == 1 and fk.column.primary_key:
                links.append((fk.parent, [k[0] for k in h.linked[parent.name]]))
        keys: set[tuple[Any, ...]] = set()
        for col, ids in links:
            for part in _chunks(ids):
                keys |= {tuple(row) for row in session.execute(select(*table.primary_key.columns).where(col.in_(part)))}
        if keys:
            h.linked[table.name] = sorted(keys)
    return h


NOTE_KEYS = ("note", "reason", "text", "comment", "quote")


def case_notes(h: Holdings) -> Iterator[str]:
    """The free text on their cases: step notes, reasons and notes in the history, the case's own notes."""
    for c in h.cases:
        for t in (c.loop_closed_note, c.close_reason, c.snooze_reason):
            if t:
                yield t
    for s in h.steps:
        if s.note:
            yield s.note
    for e in h.events:
        for k in NOTE_KEYS:
            v = (e.detail or {}).get(k)
            if isinstance(v, str) and v:
                yield v


def fingerprint(h: Holdings, *, identity: bool = True, words: bool = True, notes: bool = True) -> Fingerprint:
    """What marks them in text: their identity, their comments' words, the notes on their cases."""
    fp = Fingerprint()
    for r in h.responses:
        if identity:
            fp.add_identity(name=r.customer_name, email=r.customer_email, customer_id=r.customer_id)
            fp.add_raw(r.raw)
        if words:
            fp.add_words(r.comment, comment=True)
            fp.add_raw(r.raw)
    if notes:
        for t in case_notes(h):
            fp.add_words(t, comment=False)
    return fp


def text_columns(table: Table) -> list[Column[Any]]:
    # SQLModel's `str` columns are AutoString, a TypeDecorator over String: look at what it decorates.
    return [c for c in table.columns if isinstance(getattr(c.type, "impl_instance", c.type), (String, Text, JSON))
            and not c.primary_key and not c.foreign_keys]


def scan(session_factory: Callable[[], Session], table: Table, columns: list[Column[Any]],
         match: Callable[[dict[str, Any]], bool], *, where: Any = None) -> list[tuple[Any, ...]]:
    """Primary keys of the rows of `table` for which `match(row)` holds, read a batch at a time in short
    read transactions (keyset pages over a single-column key, else one pass)."""
    pk = list(table.primary_key.columns)
    cols = pk + [c for c in columns if c not in pk]
    found: list[tuple[Any, ...]] = []
    last = None
    while True:
        q = select(*cols)
        if where is not None:
            q = q.where(where)
        if len(pk) == 1:
            if last is not None:
                q = q.where(pk[0] > last)
            q = q.order_by(pk[0]).limit(SCAN_BATCH)
        with session_factory() as s:
            rows = s.execute(q).mappings().all()
        for row in rows:
            if match(dict(row)):
                found.append(tuple(row[c.name] for c in pk))
        if len(pk) != 1 or len(rows) < SCAN_BATCH:
            return found
        last = rows[-1][pk[0].name]


def mentioned(session_factory: Callable[[], Session], fp: Fingerprint, h: Holdings) -> dict[str, list[tuple[Any, ...]]]:
    """Rows outside their own that name or quote them: {table: [primary keys]}."""
    if fp.empty:
        return {}
    out: dict[str, list[tuple[Any, ...]]] = {}
    cids = set(h.case_ids)

    def any_text(row: dict[str, Any], names: tuple[str, ...]) -> bool:
        from bot.privacy.text import strings

        return any(fp.mentions(s) or fp.quotes_them(s) for n in names for s in strings(row.get(n)))

    plan: list[tuple[Table, list[str], Any]] = [
        (CaseStep.__table__, ["note"], CaseStep.note.is_not(None)),  # type: ignore[attr-defined,union-attr]
        (CaseEvent.__table__, ["detail"], CaseEvent.detail.is_not(None)),  # type: ignore[attr-defined]
        (Shoutout.__table__, ["text"], None),  # type: ignore[attr-defined]
        (Story.__table__, ["text"], None),  # type: ignore[attr-defined]
        (AssistResult.__table__, ["payload"], None),  # type: ignore[attr-defined]
        (Case.__table__, ["loop_closed_note", "close_reason", "snooze_reason"], None),  # type: ignore[attr-defined]
    ]
    for table in other_tables():
        cols = [c.name for c in text_columns(table)]
        if cols and table.primary_key.columns:
            plan.append((table, cols, None))
    for table, names, where in plan:
        columns = [table.c[n] for n in names]
        if "case_id" in table.c and table.name in ("case_step", "case_event"):
            columns.append(table.c["case_id"])
        keys = scan(session_factory, table, columns,
                    lambda row, names=tuple(names): row.get("case_id") not in cids and any_text(row, names),
                    where=where)
        if table.name == "cx_case":
            keys = [k for k in keys if k[0] not in cids]
        if keys:
            out[table.name] = keys
    return out
