"""Where cxloop can reach people in Teams: conversation references, kept in the database.

A reference is stored when cxloop is installed in a team (one per channel of the team), a group
chat or a personal chat, and refreshed by every activity that comes in (Teams may move a tenant to
another service URL). Delivery reads them back to post proactively; nothing is kept only in memory.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import (
    Activity,
    ChannelAccount,
    ConversationAccount,
    ConversationReference,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, delete, select

from storage.models import ConversationRef
from storage.types import utcnow

THREAD = ";messageid="
KINDS = ("channel", "personal", "groupChat")


def base_id(conversation_id: str) -> str:
    """A channel's conversation id without the thread part (`…;messageid=…`)."""
    return conversation_id.split(THREAD, 1)[0]


def thread_id(channel_id: str, root_activity_id: str) -> str:
    """The conversation id of the thread under a channel post: replies sent there stay in that thread."""
    return f"{base_id(channel_id)}{THREAD}{root_activity_id}"


def channel_data(activity: Activity) -> dict[str, Any]:
    data = activity.channel_data
    if data is None:
        return {}
    if isinstance(data, dict):
        return data
    return data.serialize() if hasattr(data, "serialize") else dict(vars(data))


def _tenant(activity: Activity) -> str | None:
    # Channel activities often carry the tenant only in channelData.
    from_data = (channel_data(activity).get("tenant") or {}).get("id")
    return from_data or (activity.conversation.tenant_id if activity.conversation else None)


def reference_of(activity: Activity) -> ConversationReference:
    """The activity's conversation reference, for the conversation itself (not one message in it)."""
    ref = TurnContext.get_conversation_reference(activity)
    conv = copy.copy(activity.conversation) or ConversationAccount()
    conv.id = base_id(conv.id or "")
    if not conv.tenant_id:
        conv.tenant_id = _tenant(activity)
    ref.conversation = conv
    ref.activity_id = None
    return ref


def to_reference(row: ConversationRef) -> ConversationReference:
    return ConversationReference().deserialize(row.reference)


def remember(session: Session, ref: ConversationReference, *, kind: str, team_id: str | None = None,
             user_id: str | None = None, name: str | None = None, now: datetime | None = None) -> ConversationRef:
    """Insert or refresh the stored reference for `ref.conversation.id`."""
    now = now or utcnow()
    conv = ref.conversation
    cid = base_id(conv.id)
    payload = ref.serialize()
    values = dict(kind=kind if kind in KINDS else "channel", user_id=user_id, team_id=team_id,
                  tenant_id=conv.tenant_id, service_url=ref.service_url, reference=payload)
    row = session.exec(select(ConversationRef).where(ConversationRef.conversation_id == cid)).first()
    if row is None:
        row = ConversationRef(conversation_id=cid, name=name, created_at=now, updated_at=now, **values)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            # The same install seen twice at once: the other insert won; refresh it instead.
            row = session.exec(select(ConversationRef).where(ConversationRef.conversation_id == cid)).one()
        else:
            return row
    for key, value in values.items():
        if value is not None or key in ("reference", "service_url"):
            setattr(row, key, value)
    if name:
        row.name = name
    row.updated_at = now
    session.add(row)
    return row


def remember_activity(session: Session, activity: Activity, *, user_id: str | None = None,
                      now: datetime | None = None) -> ConversationRef | None:
    """Store where an incoming activity came from (every Teams activity refreshes its reference)."""
    if activity.conversation is None or not activity.conversation.id or not activity.service_url:
        return None
    kind = activity.conversation.conversation_type or "personal"
    team = (channel_data(activity).get("team") or {}).get("id")
    ref = reference_of(activity)
    if kind != "personal":
        ref.user = None  # a channel is everyone's; keep no one person on its reference
    name = (channel_data(activity).get("channel") or {}).get("name") or activity.conversation.name
    return remember(session, ref, kind=kind, team_id=team, user_id=user_id if kind == "personal" else None,
                    name=name, now=now)


def remember_channel(session: Session, team_ref: ConversationReference, *, channel_id: str, name: str | None,
                     team_id: str, now: datetime | None = None) -> ConversationRef:
    """A channel of a team cxloop is installed in: the team's reference, pointed at that channel."""
    ref = ConversationReference().deserialize(team_ref.serialize())
    ref.conversation = ConversationAccount(id=channel_id, conversation_type="channel", is_group=True,
                                           tenant_id=team_ref.conversation.tenant_id)
    ref.user = None
    return remember(session, ref, kind="channel", team_id=team_id, name=name or "General", now=now)


def remember_personal(session: Session, *, conversation_id: str, user: ChannelAccount, teams_id: str,
                      like: ConversationReference, now: datetime | None = None) -> ConversationRef:
    """A personal chat cxloop opened with someone (through `create_conversation`)."""
    ref = ConversationReference(channel_id=like.channel_id, service_url=like.service_url, bot=like.bot, user=user,
                                conversation=ConversationAccount(id=conversation_id, conversation_type="personal",
                                                                 tenant_id=like.conversation.tenant_id))
    return remember(session, ref, kind="personal", user_id=teams_id, now=now)


def forget(session: Session, conversation_id: str) -> int:
    result = session.exec(delete(ConversationRef).where(ConversationRef.conversation_id == base_id(conversation_id)))
    return result.rowcount or 0


def forget_team(session: Session, team_id: str) -> int:
    """cxloop was removed from a team: none of its channels can be reached any more."""
    result = session.exec(delete(ConversationRef).where(ConversationRef.team_id == team_id))
    return result.rowcount or 0


def find(session: Session, conversation_id: str) -> ConversationRef | None:
    return session.exec(select(ConversationRef).where(ConversationRef.conversation_id == base_id(conversation_id))
                        ).first()


def personal(session: Session, teams_id: str) -> ConversationRef | None:
    return session.exec(select(ConversationRef).where(ConversationRef.kind == "personal",
                                                      ConversationRef.user_id == teams_id)
                        .order_by(ConversationRef.updated_at.desc())).first()


def team_roots(session: Session) -> list[ConversationRef]:
    """One reference per team cxloop is installed in (its General channel), newest first."""
    rows = session.exec(select(ConversationRef).where(ConversationRef.kind == "channel",
                                                      ConversationRef.team_id.is_not(None))
                        .order_by(ConversationRef.updated_at.desc())).all()
    seen: dict[str, ConversationRef] = {}
    for r in rows:
        if r.team_id not in seen or r.conversation_id == r.team_id:
            seen[r.team_id] = r  # type: ignore[index]
    return list(seen.values())
