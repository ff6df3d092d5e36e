"""Names to match in customer praise: the YAML's `people:`, and the names chat profiles show.

A workspace that lists its members by chat id only (teams' `members: [U0ALICE]`) writes no names
anywhere, so praise naming "Alice" could match no one. The adapters record each member's names as
their chat profile shows them (Slack's users.info, Teams' activities and roster: `record_names`);
`praise_roster` adds them to the YAML's `people:`. The YAML wins: a member it names is matched by its
name and aliases only. Whoever is ambiguous stays so (two Sams, from either source, match no one:
bot/recognition/shoutouts.py decides).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, select

from bot.config import Person, Workspace
from storage.db import insert_missing
from storage.models import Member, MemberProfile, TeamMembership

# Roster keys of members known by their profile rather than the YAML: "member:<id>".
MEMBER_KEY = "member:"
MAX_NAME = 200


def clean(name: str | None) -> str | None:
    """A name as stored: whitespace collapsed, at most MAX_NAME characters; None for an empty one."""
    name = " ".join((name or "").split())[:MAX_NAME]
    return name or None


def record_names(session: Session, member_id: int, platform: str, *, real_name: str | None,
                 display_name: str | None, now: datetime, touch: bool = True) -> bool:
    """Keep the names a member's chat profile shows, and when it was read (`updated_at`); returns
    whether the names changed. A profile that shows no name (a look-up that found nothing) leaves
    the ones known. `touch=False` (names seen in passing, on every Teams activity) writes only a change."""
    real, display = clean(real_name), clean(display_name)
    if not touch:
        known = session.exec(select(MemberProfile.real_name, MemberProfile.display_name).where(
            MemberProfile.member_id == member_id, MemberProfile.platform == platform)).first()
        if real is None and display is None or known is not None and tuple(known) == (real, display):
            return False
    insert_missing(session, MemberProfile.__table__, [  # type: ignore[arg-type]
        {"member_id": member_id, "platform": platform, "real_name": real, "display_name": display,
         "updated_at": now}], unique=["member_id", "platform"])
    row = session.exec(select(MemberProfile).where(MemberProfile.member_id == member_id,
                                                   MemberProfile.platform == platform)).one()
    values: dict[str, object] = {"updated_at": now}
    if (real or display) and (row.real_name, row.display_name) != (real, display):
        values.update(real_name=real, display_name=display)
    session.execute(update(MemberProfile).where(MemberProfile.id == row.id).values(**values))  # type: ignore[arg-type]
    changed = "real_name" in values
    session.refresh(row)
    return changed


def praise_roster(session: Session, ws: Workspace) -> dict[str, Person]:
    """The people customer praise may name: the YAML's `people:` (keyed by Slack user id), and each
    team member the YAML does not name, by the names their chat profiles show ("member:<id>")."""
    roster: dict[str, Person] = dict(ws.people)
    in_team = select(TeamMembership.member_id).where(TeamMembership.removed == False)  # noqa: E712
    rows = session.exec(select(MemberProfile, Member.slack_user_id).join(Member, Member.id == MemberProfile.member_id)
                        .where(MemberProfile.member_id.in_(in_team))  # type: ignore[attr-defined]
                        .order_by(MemberProfile.member_id, MemberProfile.platform)).all()
    names: dict[int, list[str]] = {}
    for profile, slack_id in rows:
        if slack_id and slack_id in ws.people:
            continue  # the YAML names this person: its names stand
        own = names.setdefault(profile.member_id, [])
        for n in (profile.real_name, profile.display_name):
            if n and n.casefold() not in {o.casefold() for o in own}:
                own.append(n)
    for member_id, own in names.items():
        if own:
            roster[f"{MEMBER_KEY}{member_id}"] = Person(name=own[0], aliases=own[1:])
    return roster


def member_id_of(key: str) -> int | None:
    """The member id in a roster key "member:<id>", or None for a Slack user id."""
    if not key.startswith(MEMBER_KEY):
        return None
    try:
        return int(key[len(MEMBER_KEY):])
    except ValueError:
        return None
