"""Teams users as cxloop members, matched by their Microsoft Entra object id and created on first sight.

`Member.teams_user_id` holds the Entra object id (Teams' `aadObjectId`), not the `29:` id. The
object id is the same for every bot in the tenant and survives re-registering the bot or moving to
another SDK; it is what the Teams admin centre, Entra and Graph show an admin (so it can be written
in the workspace YAML), what Teams' people picker answers, and what an Adaptive Card mention
accepts. The `29:` id, which only the Bot Connector uses, lives in the stored conversation
references (`handlers/teams/conversations.py`).
"""

from __future__ import annotations

import logging
from botbuilder.schema import ChannelAccount
from sqlmodel import Session, select

from bot.chat import mentions
from bot.config import Workspace
from bot.errors import NotFound
from bot.people.roles import Role
from bot.people.roster import Actor, actor_for, link_members
from storage.models import Member

log = logging.getLogger(__name__)


def teams_user_id(account: ChannelAccount | None) -> str | None:
    """The id cxloop knows a Teams user by: the Entra object id, or None when the account has none.

    Never the channel id (`from.id`): over Web Chat or Direct Line the caller chooses it, so it proves
    nothing (`guard.py` refuses such activities before they get here).
    """
    if account is None:
        return None
    aad = str(account.aad_object_id or "").strip()
    return aad or None


def yaml_links(ws: Workspace) -> dict[str, str]:
    """{Teams user id: Slack user id} from the workspace YAML's `teams_members`, once it has that key."""
    links = getattr(ws, "teams_members", None) or {}
    return {str(k): str(v) for k, v in dict(links).items()}


def member_by_teams(session: Session, ws: Workspace | None, teams_id: str, *, name: str | None = None,
                    create: bool = True) -> Member:
    """The member with this Teams id; linked through the YAML, or created (as an agent) on first sight."""
    m = session.exec(select(Member).where(Member.teams_user_id == teams_id)).first()
    if m is None and ws is not None:
        slack_id = yaml_links(ws).get(teams_id)
        if slack_id:
            link_members(session, {teams_id: slack_id})
            m = session.exec(select(Member).where(Member.teams_user_id == teams_id)).first()
    if m is None:
        if not create:
            raise NotFound("That person is not known to cxloop yet.")
        m = Member(teams_user_id=teams_id, name=_clean(name), role=Role.AGENT.value)
        session.add(m)
        session.flush()
    elif name and not m.name:
        m.name = _clean(name)
        session.add(m)
    return m


def _clean(name: str | None) -> str | None:
    name = " ".join((name or "").split())
    return name[:200] or None


def actor_of(session: Session, ws: Workspace, account: ChannelAccount | None) -> Actor:
    """The person behind a Teams activity, with their role and teams."""
    tid = teams_user_id(account)
    if tid is None:
        raise NotFound("cxloop could not tell who you are in Teams.")
    name = getattr(account, "name", None)
    return actor_for(session, member_by_teams(session, ws, tid, name=name))


def mention_token(member: Member) -> str:
    """How a person @mentioned in a `cx …` command reaches the core: a member token (bot/chat/mentions.py)."""
    assert member.id is not None
    return mentions.person(member.id)
