"""Everything held about one customer, as one JSON document (GDPR article 15): their responses with raw
bodies, their cases with history and steps, follow-ups, shout-outs and stories quoting them, the
assistant's results, and where in chat their data was posted. Nothing about other customers: rows
that only quote them are named (table and id), never copied, unless they are a shout-out or a story.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session, SQLModel

from bot.privacy.holdings import Holdings, Subject, fingerprint, gather, mentioned, responses_of
from bot.privacy.text import Fingerprint, scrub
from storage.models import AssistResult, CaseNudge, OutboxMessage, ResponseTheme, Shoutout, Story
from storage.types import utcnow

FORMAT = "cxloop.privacy.export/1"


def _row(obj: Any, *, leave: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in obj.model_dump().items():
        if k in leave:
            continue
        out[k] = v.isoformat() if isinstance(v, datetime) else v
    return out


def _posted(engine: Engine, fp: Fingerprint, case_ids: set[int]) -> list[dict[str, Any]]:
    """The chat messages that showed them: their cases' messages, and any other that names or quotes them."""
    o = OutboxMessage
    out = []
    with Session(engine) as s:
        q = select(o).where(o.status == "sent", o.action.in_(("post", "dm"))).order_by(o.id)  # type: ignore[attr-defined]
        for row in s.scalars(q):
            if fp.empty or not scrub(row.payload, fp, "x", own=row.case_id in case_ids)[1]:
                continue
            out.append({"platform": row.platform, "channel": row.sent_channel, "message": row.sent_ref,
                        "kind": {"post": "channel message", "dm": "direct message"}[row.action]
                        + (" (thread reply)" if row.thread_key else ""),
                        "case_id": row.case_id, "sent_at": row.sent_at.isoformat() if row.sent_at else None})
    return out


def _feature_rows(s: Session, h: Holdings) -> dict[str, list[dict[str, Any]]]:
    """Their rows in other features' tables (follow-ups and their notes, recoveries...), whole."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, keys in sorted(h.linked.items()):
        table = SQLModel.metadata.tables[name]
        pk = list(table.primary_key.columns)
        rows = (s.execute(select(*table.columns).where(*[c == v for c, v in zip(pk, key)])).mappings().first() for key in keys)
        out[name] = [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
                     for row in rows if row is not None]
    return out


def export(engine: Engine, subject: Subject, *, now: datetime | None = None) -> dict[str, Any]:
    """The document; `responses` is empty when nothing is held under this email or customer id."""
    now = now or utcnow()
    with Session(engine) as s:
        responses = responses_of(s, subject)
        h = gather(s, responses)
        fp = fingerprint(h)
        fp.add_identity(email=subject.email, customer_id=subject.customer_id)
        themes: dict[int, list[str]] = {}
        for t in s.scalars(select(ResponseTheme).where(ResponseTheme.response_id.in_(h.response_ids))  # type: ignore[attr-defined]
                           .order_by(ResponseTheme.rank)):
            themes.setdefault(t.response_id, []).append(t.theme)
        nudges = list(s.scalars(select(CaseNudge).where(CaseNudge.case_id.in_(h.case_ids))))  # type: ignore[attr-defined]
        subjects = [f"response:{i}" for i in h.response_ids] + [f"case:{i}" for i in h.case_ids]
        assist = list(s.scalars(select(AssistResult).where(AssistResult.subject.in_(subjects))))  # type: ignore[attr-defined]
        found = mentioned(lambda: Session(engine), fp, h)
        extra_assist = [k[0] for k in found.get("assist_result", [])]
        if extra_assist:
            assist += list(s.scalars(select(AssistResult).where(AssistResult.id.in_(extra_assist))))  # type: ignore[attr-defined]
        quoting = {name: [k[0] for k in keys] for name, keys in found.items()}
        shout_ids = {so.id for so in h.shoutouts} | set(quoting.pop("shoutout", []))
        shouts = list(s.scalars(select(Shoutout).where(Shoutout.id.in_(shout_ids)))) if shout_ids else []  # type: ignore[attr-defined]
        story_ids = quoting.pop("story", [])
        stories = list(s.scalars(select(Story).where(Story.id.in_(story_ids)))) if story_ids else []  # type: ignore[attr-defined]
        quoting.pop("assist_result", None)
        cases = []
        for c in h.cases:
            cases.append({**_row(c, leave=("dm_key", "version")),
                          "steps": [_row(st) for st in h.steps if st.case_id == c.id],
                          "history": [_row(ev) for ev in h.events if ev.case_id == c.id],
                          "follow_ups": [_row(n, leave=("id",)) for n in nudges if n.case_id == c.id]})
        doc = {
            "format": FORMAT,
            "generated_at": now.isoformat(),
            "subject": {k: v for k, v in (("email", subject.email), ("customer_id", subject.customer_id)) if v},
            "responses": [{**_row(r), "themes": themes.get(r.id, [])} for r in h.responses],  # type: ignore[arg-type]
            "cases": cases,
            "shoutouts": [_row(so, leave=("from_member_id",)) for so in shouts],
            "stories": [_row(st) for st in stories],
            "assistant": [_row(a, leave=("input_hash",)) for a in assist],
            "features": _feature_rows(s, h),
            "also_named_in": [{"table": t, "id": i} for t, ids in sorted(quoting.items()) for i in ids],
        }
    doc["chat"] = _posted(engine, fp, set(h.case_ids))
    return doc
