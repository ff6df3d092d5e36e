"""The chat copies of a customer's data: the outbox (every message cxloop sent or will send) and the inbox
(Slack and Teams send the message back with every click).

A message that showed them is edited where it was posted: the newest version of it (the post or its
latest edit) is scrubbed and queued as an edit through the outbox, with its retries and look-ups; a
message not sent yet is scrubbed before it goes. Every stored version is scrubbed too, so the
database keeps none of their words. Handled inbox requests that quote them have their body replaced.
A message that shows customer data is marked (`customer_message`) so housekeeping keeps its outbox
row, and with it the way to edit it, for as long as the data could need erasing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import Engine, select, update
from sqlmodel import Session

from bot.machinery.queueing import enqueue
from bot.privacy.text import Fingerprint, scrub, shows_quote, strings
from storage.db import session_scope
from storage.models import InboxItem, OutboxMessage
from storage.models_privacy import CustomerMessage

BATCH = 1000
EDITABLE = ("post", "dm")  # new messages; an "update" row is a version of one of these


@dataclass
class ChatCounts:
    messages_edited: int = 0
    outbox_rows: int = 0
    inbox_rows: int = 0


def _rows(engine: Engine, model: Any, columns: list[Any], where: Any = None) -> Iterable[Any]:
    """Every row of `model` (selected columns), a batch at a time, in short read transactions."""
    last = 0
    while True:
        q = select(*columns).where(model.id > last).order_by(model.id).limit(BATCH)
        if where is not None:
            q = q.where(where)
        with Session(engine) as s:
            rows = s.execute(q).all()
        yield from rows
        if len(rows) < BATCH:
            return
        last = rows[-1][0]


def scrub_outbox(engine: Engine, fp: Fingerprint, case_ids: set[int], marker: str, *,
                 every_quote: bool = True) -> ChatCounts:
    """Scrub every stored message that shows them and queue an edit of every sent one that still does."""
    out = ChatCounts()
    if fp.empty and not case_ids:
        return out
    o = OutboxMessage
    new_payloads: dict[int, Any] = {}
    info: dict[int, tuple[str, str, str, str, str | None, int | None, str]] = {}
    for rid, key, platform, action, target, anchor, case_id, status, payload in _rows(
            engine, o, [o.id, o.dedupe_key, o.platform, o.action, o.target, o.anchor_key, o.case_id, o.status,
                        o.payload]):
        info[rid] = (key, platform, action, target, anchor, case_id, status)
        if not payload or action == "upload":
            continue
        new, changed = scrub(payload, fp, marker, own=case_id in case_ids, every_quote=every_quote)
        if changed:
            new_payloads[rid] = new
    if not new_payloads:
        return out
    # A message is its post (or DM) and its edits; the newest version is what chat shows now.
    by_key = {v[0]: rid for rid, v in info.items()}
    versions: dict[int, list[int]] = {}
    for rid, (key, _p, action, _t, anchor, _c, status) in info.items():
        if status == "superseded" or status == "failed":
            continue
        if action in EDITABLE:
            versions.setdefault(rid, []).append(rid)
        elif action == "update" and anchor in by_key:
            versions.setdefault(by_key[anchor], []).append(rid)
    with session_scope(engine) as s:
        for rid, payload in new_payloads.items():
            s.execute(update(o).where(o.id == rid).values(payload=payload))
        out.outbox_rows = len(new_payloads)
        stamp = uuid.uuid4().hex[:12]
        for post_id, ids in versions.items():
            newest = max(ids)
            key, platform, action, target, _a, case_id, status = info[post_id]
            if newest not in new_payloads or info[newest][6] != "sent" or info[post_id][6] != "sent":
                continue  # not shown, already clean, or scrubbed before it goes
            enqueue(s, key=f"{key}:privacy:{stamp}", platform=platform, action="update", target=target,
                    message=new_payloads[newest], anchor_key=key, case_id=case_id)
            out.messages_edited += 1
    return out


def _body_strings(body: str, content_type: str) -> list[str]:
    """The words in a request body: Slack's form fields (a JSON `payload`), or Teams' JSON."""
    texts: list[str] = []
    values = [v for _, v in parse_qsl(body, keep_blank_values=True)] if "urlencoded" in content_type else [body]
    for v in values:
        try:
            texts += list(strings(json.loads(v)))
        except ValueError:
            texts.append(v)
    return texts


def scrub_inbox(engine: Engine, fp: Fingerprint, marker: str) -> int:
    """Replace the body of every handled request that quotes them (a pending one is handled first)."""
    if fp.empty:
        return 0
    i = InboxItem
    hits = [rid for rid, body, ctype in _rows(engine, i, [i.id, i.body, i.content_type],
                                              where=i.status.in_(("done", "failed")))
            if any(fp.mentions(t) or fp.quotes_them(t) for t in _body_strings(body or "", ctype or ""))]
    if hits:
        with session_scope(engine) as s:
            for part in range(0, len(hits), 500):
                s.execute(update(i).where(i.id.in_(hits[part:part + 500]), i.status.in_(("done", "failed")))
                          .values(body=json.dumps({"erased": marker})))
    return len(hits)


def shows_customer(payload: Any, identity: Iterable[str | None] = ()) -> bool:
    """Whether a stored message shows customer data: it quotes someone, or names its case's customer."""
    if shows_quote(payload):
        return True
    marks = [v.casefold() for v in identity if v and len(v.strip()) >= 3]
    return bool(marks) and any(m in t.casefold() for t in strings(payload) for m in marks)


def mark_customer_messages(session: Session, rows: list[tuple[Any, ...]]) -> int:
    """Mark the rows (id, payload, the case's customer name, email, id) that show customer data, so
    housekeeping keeps them."""
    ids = [row[0] for row in rows if shows_customer(row[1], row[2:])]
    if not ids:
        return 0
    have = set(session.scalars(select(CustomerMessage.outbox_id).where(CustomerMessage.outbox_id.in_(ids))))
    for rid in ids:
        if rid not in have:
            session.add(CustomerMessage(outbox_id=rid))
    session.flush()
    return len(ids) - len(have)
