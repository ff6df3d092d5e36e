"""Small follow-through actions people take from a nudge."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from bot.cases import messages as cm
from bot.cases.service import get_case, load_view
from bot.config import Workspace
from bot.errors import InvalidState, NotAllowed
from bot.chat.messages import Mention, Message, Section, plain
from bot.cases.notify import member_targets
from bot.machinery.queueing import enqueue
from bot.people.roster import Actor
from storage.models import Member


def ask_owner_for_update(session: Session, ws: Workspace, actor: Actor, case_id: int, *, now: datetime) -> None:
    """A manager asks the owner of an overdue case for an update (a DM, at most once an hour)."""
    case = get_case(session, case_id)
    if not actor.manages_team(case.team):
        raise NotAllowed(f"Only a manager of the {case.team} team can chase case #{case_id}.")
    if case.owner_id is None:
        raise InvalidState(f"Case #{case_id} has no owner yet; assign it first.")
    owner = session.get(Member, case.owner_id)
    assert owner is not None
    view = load_view(session, ws, case_id)
    msg = Message(text=f"Update requested on case #{case_id}", blocks=[
        Section(spans=[Mention(person=actor.ref), plain(f" asked for an update on case #{case_id} "
                                                        f"({cm.survey_label(view.response.survey, view.response.score)}).")]),
        *([a for a in cm.owner_message(view, mask=ws.mask_email).blocks if a.kind == "actions"])])
    hour = now.strftime("%Y%m%d%H")
    for platform, user in member_targets(owner):
        enqueue(session, key=f"{platform}:case:{case_id}:chase:{actor.id}:{hour}", platform=platform, action="dm",
                target=user, message=msg, case_id=case_id)
