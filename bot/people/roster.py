"""Who is who: members, their roles and teams, kept in the database."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import bindparam
from sqlmodel import Session, select

from bot.config import Workspace
from bot.errors import NotFound
from bot.chat.messages import PersonRef
from bot.people.roles import Role
from storage.models import AuditEntry, Member, TeamMembership

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """The person doing something, with what they may do."""

    member: Member
    role: Role
    teams: frozenset[str] = field(default_factory=frozenset)
    manages: frozenset[str] = field(default_factory=frozenset)

    @property
    def id(self) -> int:
        assert self.member.id is not None
        return self.member.id

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def manages_team(self, team: str) -> bool:
        return self.is_admin or (self.role.rank >= Role.MANAGER.rank and team in self.manages)

    def in_team(self, team: str) -> bool:
        return team in self.teams or self.manages_team(team)

    @property
    def ref(self) -> PersonRef:
        return person_ref(self.member)


def visible_teams(actor: Actor, ws: Workspace) -> list[str]:
    """The teams whose scores, shout-outs and changes `actor` may see: their own (admins: every team)."""
    if actor.is_admin:
        return [t.key for t in ws.teams]
    return sorted(actor.teams | actor.manages)


def person_ref(member: Member) -> PersonRef:
    return PersonRef(member_id=member.id, name=member.name, slack_user_id=member.slack_user_id,
                     teams_user_id=member.teams_user_id)


def _higher(a: str, b: str) -> str:
    return a if Role(a).rank >= Role(b).rank else b


def sync_workspace(session: Session, ws: Workspace) -> None:
    """Create the members and team memberships the workspace YAML names (never demotes)."""
    wanted: dict[str, str] = {}
    for t in ws.teams:
        for uid in t.members:
            wanted[uid] = _higher(wanted.get(uid, "agent"), "agent")
        for uid in t.managers:
            wanted[uid] = _higher(wanted.get(uid, "agent"), "manager")
    for uid in ws.admins:
        wanted[uid] = "admin"
    for uid in ws.people:
        wanted.setdefault(uid, "agent")
    existing = {m.slack_user_id: m for m in session.exec(select(Member).where(Member.slack_user_id.in_(list(wanted))))}
    chat_roles = {int(t.split(":")[1]) for t in session.exec(
        select(AuditEntry.target).where(AuditEntry.action == "role"))}
    for uid, role in wanted.items():
        person = ws.people.get(uid)
        m = existing.get(uid)
        if m is None:
            m = Member(slack_user_id=uid, role=role, name=person.name if person else None,
                       tz=person.tz if person else None)
            session.add(m)
            existing[uid] = m
        elif m.id not in chat_roles:
            # A role set in chat (`/cx role`) stands; otherwise the YAML may only raise a role.
            m.role = _higher(m.role, role)
            if person and not m.name:
                m.name = person.name
            if person and person.tz and not m.tz:
                m.tz = person.tz
    session.flush()
    have = {(tm.team, tm.member_id): tm for tm in session.exec(select(TeamMembership))}
    for t in ws.teams:
        for uid, manager in [(u, False) for u in t.members] + [(u, True) for u in t.managers]:
            mid = existing[uid].id
            assert mid is not None
            tm = have.get((t.key, mid))
            if tm is None:
                tm = TeamMembership(team=t.key, member_id=mid, is_manager=manager)
                session.add(tm)
                have[(t.key, mid)] = tm
            elif manager and not tm.is_manager and not tm.removed:
                tm.is_manager = True
            # A removal made in chat stands: the YAML does not bring people back.
    session.flush()
    if ws.teams_members:
        link_members(session, ws.teams_members)


def link_members(session: Session, links: dict[str, str]) -> int:
    """Give the YAML's Slack members their Teams ids, so a person is one member on both platforms."""
    changed = 0
    for teams_id, slack_id in links.items():
        member = session.exec(select(Member).where(Member.slack_user_id == slack_id)).first()
        if member is None:
            member = Member(slack_user_id=slack_id, role=Role.AGENT.value)
            session.add(member)
            session.flush()
        if member.teams_user_id == teams_id:
            continue
        other = session.exec(select(Member).where(Member.teams_user_id == teams_id)).first()
        if other is not None:
            if other.slack_user_id:
                log.warning("Teams user %s is linked to Slack user %s already; not moving them to %s",
                            teams_id, other.slack_user_id, slack_id)
                continue
            # Created on first sight in Teams before the YAML named them: the YAML's member takes the id.
            other.teams_user_id = None
            session.add(other)
            session.flush()
        member.teams_user_id = teams_id
        session.add(member)
        changed += 1
    session.flush()
    return changed



# Built once: every chat request looks up who sent it.
_BY_SLACK = select(Member).where(Member.slack_user_id == bindparam("slack_id"))
_MEMBERSHIPS = select(TeamMembership.team, TeamMembership.is_manager).where(
    TeamMembership.member_id == bindparam("member_id"), TeamMembership.removed == False)  # noqa: E712


def member_by_slack(session: Session, slack_user_id: str, *, create: bool = True) -> Member:
    m = session.execute(_BY_SLACK, {"slack_id": slack_user_id}).scalars().first()
    if m is None:
        if not create:
            raise NotFound(f"<@{slack_user_id}> is not known to cxloop yet")
        m = Member(slack_user_id=slack_user_id, role=Role.AGENT.value)
        session.add(m)
        session.flush()
    return m


_ACTOR_BY_SLACK = (select(Member, TeamMembership.team, TeamMembership.is_manager)
                   .outerjoin(TeamMembership, (TeamMembership.member_id == Member.id)
                              & (TeamMembership.removed == False))  # noqa: E712
                   .where(Member.slack_user_id == bindparam("slack_id")))


def actor_by_slack(session: Session, slack_user_id: str) -> Actor:
    """`actor_for(member_by_slack(...))` in one query: who sent a chat request, with their roles
    (someone new is added as an agent in no team)."""
    rows = session.execute(_ACTOR_BY_SLACK, {"slack_id": slack_user_id}).all()
    if not rows:
        return actor_for(session, member_by_slack(session, slack_user_id))
    return _actor(rows[0][0], [(team, manager) for _, team, manager in rows if team is not None])


def member_by_id(session: Session, member_id: int) -> Member:
    m = session.get(Member, member_id)
    if m is None:
        raise NotFound(f"no member with id {member_id}")
    return m


def actor_for(session: Session, member: Member) -> Actor:
    return _actor(member, session.execute(_MEMBERSHIPS, {"member_id": member.id}).all())


def _actor(member: Member, teams: list[tuple[str, bool]]) -> Actor:
    """`member` with their role and their (team, is manager) memberships."""
    return Actor(member=member, role=Role(member.role), teams=frozenset(team for team, _ in teams),
                 manages=frozenset(team for team, manager in teams if manager))


def _in_team(session: Session, team: str, *, managers: bool) -> list[Member]:
    rows = session.exec(
        select(Member).join(TeamMembership, TeamMembership.member_id == Member.id)
        .where(TeamMembership.team == team, TeamMembership.is_manager == managers,
               TeamMembership.removed == False)  # noqa: E712
        .order_by(Member.id)
    ).all()
    return list(rows)


def team_members(session: Session, team: str) -> list[Member]:
    """The team's members (not counting managers-only), in a stable order."""
    return _in_team(session, team, managers=False)


def team_managers(session: Session, team: str) -> list[Member]:
    """The team's managers, in a stable order."""
    return _in_team(session, team, managers=True)
