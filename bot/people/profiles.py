"""People's profiles in chat (their time zone, their names), looked up by the adapters.

Whose profile is worth a look is a rule of the core: owners of open cases and managers, because
their nudges wait for their working hours; and every team member whose names were not read yet,
because customer praise may name them (bot/people/names.py). Each at most once per `stale_after`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlmodel import Session

from bot.cases.resolved import CaseStatus
from storage.models import Case, Member, MemberProfile, TeamMembership

ACTIVE = [CaseStatus.OPEN.value, CaseStatus.IN_PROGRESS.value]


def due_for_a_look(session: Session, now: datetime, *, stale_after: timedelta, limit: int) -> list[tuple[int, str]]:
    """(member id, Slack user id) of owners and managers whose profile was not checked within `stale_after`."""
    wanted = select(Member.id, Member.slack_user_id).where(
        Member.slack_user_id.is_not(None),  # type: ignore[union-attr]
        or_(Member.tz_checked_at.is_(None), Member.tz_checked_at < now - stale_after),  # type: ignore[union-attr,operator]
        or_(Member.id.in_(select(Case.owner_id).where(Case.status.in_(ACTIVE))),  # type: ignore[union-attr,attr-defined]
            Member.id.in_(select(TeamMembership.member_id).where(TeamMembership.is_manager == True))),  # type: ignore[union-attr]  # noqa: E712
    ).limit(limit)
    found = [(mid, uid) for mid, uid in session.execute(wanted)]
    read = select(MemberProfile.member_id).where(MemberProfile.platform == "slack",
                                                 MemberProfile.updated_at >= now - stale_after)
    names = select(Member.id, Member.slack_user_id).where(
        Member.slack_user_id.is_not(None),  # type: ignore[union-attr]
        Member.id.in_(select(TeamMembership.member_id).where(TeamMembership.removed == False)),  # type: ignore[union-attr]  # noqa: E712
        Member.id.not_in(read),  # type: ignore[union-attr]
    ).order_by(Member.id).limit(limit)
    seen = {mid for mid, _ in found}
    found += [(mid, uid) for mid, uid in session.execute(names) if mid not in seen]
    return found[:limit]


def record_profile(session: Session, member_id: int, now: datetime, *, tz: str | None) -> None:
    """Keep what a profile look-up found (a time zone it did not find leaves the one known)."""
    values: dict[str, object] = {"tz_checked_at": now}
    if tz:
        values["tz"] = tz
    session.execute(update(Member).where(Member.id == member_id).values(**values))  # type: ignore[arg-type]
