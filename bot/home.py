"""The App Home: what the viewer should look at now."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from bot.commands import _case_line
from bot.config import Workspace
from bot.messages import Block, Context, Divider, Header, Message, Section, plain
from bot.resolved import CaseStatus
from bot.roster import Actor
from storage.models import Case


def home_view(session: Session, ws: Workspace, actor: Actor, *, now: datetime) -> Message:
    mine = session.exec(select(Case).where(Case.owner_id == actor.id,
                                           Case.status.in_([CaseStatus.IN_PROGRESS.value, CaseStatus.RESOLVED.value]))
                        .order_by(Case.resolve_due_at).limit(30)).all()
    blocks: list[Block] = [Header(text="Your cases")]
    blocks += [Section(spans=_case_line(session, ws, c)) for c in mine] or [
        Context(spans=[plain("You have no open cases.")])]
    managed = sorted(actor.manages) if not actor.is_admin else [t.key for t in ws.teams]
    for team in managed:
        queue = session.exec(select(Case).where(Case.team == team, Case.status == CaseStatus.OPEN.value)
                             .order_by(Case.opened_at).limit(15)).all()
        blocks += [Divider(), Header(text=f"{ws.team(team).title}: unclaimed ({len(queue)})")]
        blocks += [Section(spans=_case_line(session, ws, c)) for c in queue] or [
            Context(spans=[plain("Nothing waiting.")])]
    return Message(text="cxloop home", blocks=blocks[:100])
