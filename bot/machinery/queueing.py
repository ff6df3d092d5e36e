"""Queueing outgoing messages in the outbox (bot/machinery/outbox.py delivers them).

`enqueue` runs inside the caller's transaction, beside the change that wants the message, so the
message is queued if and only if the change is committed. The dedupe key makes it once-only however
often the code that wants it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlmodel import Session

from bot.chat.messages import Message
from storage.db import insert_missing
from storage.models import OutboxMessage
from storage.types import utcnow

_TABLE = OutboxMessage.__table__  # type: ignore[attr-defined]


def _row(*, key: str, platform: str, action: str, target: str, payload: dict[str, Any], thread_key: str | None,
         anchor_key: str | None, case_id: int | None, not_before: datetime | None, now: datetime) -> dict[str, Any]:
    """An outbox row as inserted (every column a Core insert must give)."""
    return {"dedupe_key": key, "platform": platform, "action": action, "target": target, "payload": payload,
            "thread_key": thread_key, "anchor_key": anchor_key, "case_id": case_id, "status": "pending",
            "attempts": 0, "maybe_sent": False, "next_attempt_at": not_before or now, "created_at": now}


_SUPERSEDE_HOME = (update(_TABLE)
                   .where(_TABLE.c.platform == bindparam("b_platform"), _TABLE.c.target == bindparam("b_target"),
                          _TABLE.c.action == "home", _TABLE.c.status == "pending", _TABLE.c.id != bindparam("b_id"))
                   .values(status="superseded"))
_SUPERSEDE_EDIT = (update(_TABLE)
                   .where(_TABLE.c.anchor_key == bindparam("b_anchor"), _TABLE.c.action == "update",
                          _TABLE.c.status == "pending", _TABLE.c.id != bindparam("b_id"))
                   .values(status="superseded"))


def enqueue(session: Session, *, key: str, platform: str, action: str, target: str,
            message: Message | dict[str, Any], thread_key: str | None = None, anchor_key: str | None = None,
            case_id: int | None = None, not_before: datetime | None = None) -> bool:
    """Queue a message once. Returns False when the key was already queued (nothing is added).

    Pictures travel as their own rows (action "upload", in the message's thread), so a failed
    upload is retried on its own and never lost behind a post that already went out.
    """
    if isinstance(message, Message) and action in ("post", "dm") and any(b.kind == "image" for b in message.blocks):
        images = [b for b in message.blocks if b.kind == "image"]
        message = message.model_copy(update={"blocks": [b for b in message.blocks if b.kind != "image"]})
        if not enqueue(session, key=key, platform=platform, action=action, target=target, message=message,
                       thread_key=thread_key, anchor_key=anchor_key, case_id=case_id, not_before=not_before):
            return False
        for i, img in enumerate(images):
            enqueue(session, key=f"{key}:image:{i}", platform=platform, action="upload", target=target,
                    message=Message(text=img.title, blocks=[img]), thread_key=key, case_id=case_id,
                    not_before=not_before)
        return True
    payload = message.model_dump(mode="json") if isinstance(message, Message) else (message or {})
    row = _row(key=key, platform=platform, action=action, target=target, payload=payload, thread_key=thread_key,
               anchor_key=anchor_key, case_id=case_id, not_before=not_before, now=utcnow())
    # One INSERT … ON CONFLICT DO NOTHING (a Core statement: this runs several times per click): a key
    # queued before, or by another transaction at the same moment, wins, and nothing is doubled.
    inserted = insert_missing(session, _TABLE, [row], unique=["dedupe_key"], returning=["id"])
    if not inserted:
        return False
    new_id = inserted[0][0]
    if action == "home":
        # The Home tab shows current state when it is delivered: one pending refresh is enough.
        session.execute(_SUPERSEDE_HOME, {"b_platform": platform, "b_target": target, "b_id": new_id})
    if action == "update" and anchor_key:
        # Only the newest version of a message matters; older queued edits are dropped.
        session.execute(_SUPERSEDE_EDIT, {"b_anchor": anchor_key, "b_id": new_id})
    return True


@dataclass(frozen=True)
class Queued:
    """One message for `enqueue_many`; the fields are `enqueue`'s."""

    key: str
    platform: str
    action: str
    target: str
    message: Message
    thread_key: str | None = None
    case_id: int | None = None
    not_before: datetime | None = None


def enqueue_many(session: Session, items: list[Queued]) -> None:
    """`enqueue` for many messages at once (a key already queued, by anyone, is skipped). Pictures,
    App Home refreshes and edits go through `enqueue`, which knows how to split or supersede them."""
    rows = []
    now = utcnow()
    for it in items:
        if it.action in ("home", "update") or any(b.kind == "image" for b in it.message.blocks):
            enqueue(session, key=it.key, platform=it.platform, action=it.action, target=it.target,
                    message=it.message, thread_key=it.thread_key, case_id=it.case_id, not_before=it.not_before)
            continue
        rows.append(_row(key=it.key, platform=it.platform, action=it.action, target=it.target,
                         payload=it.message.model_dump(mode="json"), thread_key=it.thread_key, anchor_key=None,
                         case_id=it.case_id, not_before=it.not_before, now=now))
    insert_missing(session, _TABLE, rows, unique=["dedupe_key"])
