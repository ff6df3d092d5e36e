"""Team set-up changed in chat: stored in the database, layered over the workspace YAML, audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event, func
from sqlmodel import Session, select

from bot.config import ConfigError, Workspace, format_duration, parse_workspace
from bot.errors import BadInput, InvalidState, NotAllowed, NotFound
from bot.people.roles import Role
from bot.people.roster import Actor
from storage.models import AuditEntry, Member, TeamMembership, TeamSetting
from storage.types import utcnow

FIELDS = ("name", "slack_channel", "teams_channel", "touchpoints", "sla")
CREATED = "_created"


_VERSION = select(func.count(TeamSetting.id), func.max(TeamSetting.updated_at))  # built once: read per request
# Team changes this process has committed: a runtime that sees this move re-reads the workspace at once
# (bot/machinery/runtime.py), instead of on its next periodic look.
_committed_here = 0


def changes_committed_here() -> int:
    return _committed_here


def _count_on_commit(session: Session) -> None:
    def bump(_session: Any) -> None:
        global _committed_here
        _committed_here += 1

    event.listen(session, "after_commit", bump, once=True)


def settings_version(session: Session) -> tuple[int, Any]:
    """Changes whenever a team setting does: a cheap check before rebuilding the workspace."""
    row = session.execute(_VERSION).one()
    return int(row[0]), row[1]


def _apply(base: Workspace, rows: list[TeamSetting]) -> Workspace:
    if not rows:
        return base
    data = base.model_dump(mode="json")
    teams = {t["key"]: t for t in data["teams"]}
    for r in rows:
        if r.field == CREATED and r.team not in teams:
            teams[r.team] = {"key": r.team, **(r.value or {})}
    for r in rows:
        if r.field == CREATED or r.team not in teams:
            continue
        if r.field == "sla":
            teams[r.team]["sla"] = {**(teams[r.team].get("sla") or {}), **(r.value or {})}
        else:
            teams[r.team][r.field] = r.value
    data["teams"] = list(teams.values())
    return parse_workspace(data, origin="workspace (with changes made in chat)")


def effective_workspace(session: Session, base: Workspace) -> Workspace:
    """The YAML workspace with every change made in chat applied on top."""
    rows = list(session.exec(select(TeamSetting).order_by(TeamSetting.id)))
    return _apply(base, rows)


def audit(session: Session, actor: Actor | None, action: str, target: str, old: Any, new: Any, *,
          now: datetime | None = None) -> None:
    session.add(AuditEntry(at=now or utcnow(), actor_id=actor.id if actor else None, action=action, target=target,
                           old=old, new=new))


def _require_manager(actor: Actor, team: str) -> None:
    if not actor.manages_team(team):
        raise NotAllowed(f"Changing the {team} team needs a manager of that team (or an admin).")


def _current(ws: Workspace, team: str, field: str) -> Any:
    t = ws.team(team).model_dump(mode="json")
    return t.get(field)


def set_team_field(session: Session, base: Workspace, actor: Actor, team: str, field: str, value: Any, *,
                   now: datetime | None = None) -> tuple[Any, Any]:
    """Change one team setting; validated as a whole workspace first. Returns (old, new)."""
    if field not in FIELDS:
        raise BadInput(f"{field!r} is not a team setting; use one of {', '.join(FIELDS)}.")
    ws = effective_workspace(session, base)
    try:
        ws.team(team)
    except KeyError:
        raise NotFound(f"There is no team {team!r}; teams: {', '.join(t.key for t in ws.teams)}.") from None
    _require_manager(actor, team)
    old = _current(ws, team, field)
    row = session.exec(select(TeamSetting).where(TeamSetting.team == team, TeamSetting.field == field)).first()
    merged = {**(old or {}), **value} if field == "sla" and isinstance(value, dict) else value
    if merged == old:
        raise InvalidState(f"The {team} team's {field.replace('_', ' ')} is already {describe(field, old)}.")
    pending = [r for r in session.exec(select(TeamSetting).order_by(TeamSetting.id)) if r is not row]
    candidate = TeamSetting(team=team, field=field, value=merged)
    try:
        _apply(base, pending + [candidate])
    except ConfigError as exc:
        raise BadInput(str(exc).split(": ", 1)[-1]) from None
    if row is None:
        row = TeamSetting(team=team, field=field)
    row.value = merged
    row.updated_by = actor.id
    row.updated_at = now or utcnow()
    session.add(row)
    audit(session, actor, f"team.{field}", team, old, merged, now=now)
    session.flush()
    _count_on_commit(session)
    return old, merged


def create_team(session: Session, base: Workspace, actor: Actor, key: str, name: str | None, *,
                now: datetime | None = None) -> None:
    if not actor.is_admin:
        raise NotAllowed("Creating teams needs the admin role.")
    ws = effective_workspace(session, base)
    if key in {t.key for t in ws.teams}:
        raise InvalidState(f"There is already a team {key!r}.")
    value = {"name": name} if name else {}
    try:
        _apply(base, list(session.exec(select(TeamSetting))) + [TeamSetting(team=key, field=CREATED, value=value)])
    except ConfigError as exc:
        raise BadInput(f"{key!r} can't be a team key: use lower-case letters, digits, - and _ "
                       f"({str(exc).split(': ', 1)[-1]})") from None
    session.add(TeamSetting(team=key, field=CREATED, value=value, updated_by=actor.id, updated_at=now or utcnow()))
    audit(session, actor, "team.create", key, None, value, now=now)
    session.flush()
    _count_on_commit(session)


def set_membership(session: Session, ws: Workspace, actor: Actor, team: str, member: Member, *, add: bool,
                   manager: bool = False, now: datetime | None = None) -> None:
    """Add someone to a team (or remove them); recorded so the YAML never undoes it."""
    try:
        ws.team(team)
    except KeyError:
        raise NotFound(f"There is no team {team!r}.") from None
    _require_manager(actor, team)
    row = session.exec(select(TeamMembership).where(TeamMembership.team == team,
                                                    TeamMembership.member_id == member.id)).first()
    who = member.name or member.slack_user_id or member.teams_user_id or str(member.id)
    if add:
        if row is not None and not row.removed and row.is_manager == manager:
            raise InvalidState(f"{who} is already in the {team} team.")
        if row is None:
            row = TeamMembership(team=team, member_id=member.id, is_manager=manager)  # type: ignore[arg-type]
        row.removed = False
        row.is_manager = manager or row.is_manager
        session.add(row)
        audit(session, actor, "team.add", team, None, {"member": member.id, "name": who, "manager": manager}, now=now)
    else:
        if row is None or row.removed:
            raise InvalidState(f"{who} is not in the {team} team.")
        row.removed = True
        session.add(row)
        audit(session, actor, "team.remove", team, {"member": member.id, "name": who}, None, now=now)
    session.flush()


def set_role(session: Session, actor: Actor, member: Member, role: Role, *, now: datetime | None = None) -> Role:
    """Give someone a role (admins only); the last admin can't step down."""
    if not actor.is_admin:
        raise NotAllowed("Changing roles needs the admin role.")
    old = Role(member.role)
    if old is role:
        raise InvalidState(f"{member.name or member.slack_user_id} is already {role.value}.")
    if old is Role.ADMIN:
        admins = session.exec(select(func.count(Member.id)).where(Member.role == Role.ADMIN.value)).one()
        if admins <= 1:
            raise InvalidState("That is the last admin; make someone else admin first.")
    member.role = role.value
    session.add(member)
    audit(session, actor, "role", f"member:{member.id}", old.value, role.value, now=now)
    session.flush()
    return old


def describe(field: str, value: Any) -> str:
    if value is None or value == [] or value == {}:
        return "not set"
    if field == "touchpoints":
        return ", ".join(value)
    if field == "sla" and isinstance(value, dict):
        parts = []
        for k in ("respond_within", "resolve_within"):
            if k in value:
                from bot.config import parse_duration

                parts.append(f"{k.split('_')[0]} within {format_duration(parse_duration(value[k]))}")
        return ", ".join(parts) or "default"
    return str(value)
