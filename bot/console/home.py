"""The App Home: what the viewer should look at now."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, select

from bot.console.registry import case_lines
from bot.config import Workspace
from bot.chat.messages import (
    Block,
    Context,
    Divider,
    Fields,
    FieldItem,
    Header,
    Mention,
    Message,
    Section,
    Span,
    plain,
)
from bot.cases.resolved import CaseStatus
from bot.followup.views import follow_up_blocks, my_follow_ups
from bot.improvement.report import home_blocks as improvement_home
from bot.people.roster import Actor, person_ref, visible_teams
from bot.reporting.scores import compute_scores
from storage.models import Case, Member, Shoutout

LIMIT = 20  # per list: the Home tab has room for 100 blocks in all
# A Home opened this recently may still be on screen: changes re-publish it. Anyone else's Home is
# built when they next open it (Slack sends app_home_opened every time), so it is never stale.
IN_USE = timedelta(hours=24)
NO_TEAM = "You're not in a team yet, so there are no team scores or shout-outs to show; a manager can add you."


def open_home(session: Session, ws: Workspace, actor: Actor, *, now: datetime) -> Message:
    """The viewer opened their Home: note it (so changes refresh it while it may be on screen) and build it."""
    actor.member.home_opened_at = now
    session.add(actor.member)
    return home_view(session, ws, actor, now=now)


def in_use(member: Member, now: datetime) -> bool:
    """Whether `member`'s Home may be on screen, so worth re-publishing after a change."""
    return member.home_opened_at is not None and member.home_opened_at >= now - IN_USE


def home_view(session: Session, ws: Workspace, actor: Actor, *, now: datetime) -> Message:
    """The viewer's open cases, their team queues (managers), this week's scores and recent shout-outs of their
    teams (admins: every team)."""
    mine = session.exec(select(Case).where(Case.owner_id == actor.id, Case.status.in_(
        [CaseStatus.IN_PROGRESS.value, CaseStatus.RESOLVED.value])).order_by(Case.resolve_due_at)).all()
    blocks: list[Block] = [Header(text=f"Your cases ({len(mine)})")]
    blocks += [Section(spans=line) for line in case_lines(session, ws, list(mine[:LIMIT]))] or [
        Context(spans=[plain("You have no open cases.")])]
    if len(mine) > LIMIT:
        blocks.append(Context(spans=[plain(f"…and {len(mine) - LIMIT} more: `/cx mine` lists them all.")]))
    blocks += follow_up_blocks(my_follow_ups(session, ws, actor), limit=10, more="`/cx mine` lists them all.")
    managed = [t.key for t in ws.teams if actor.manages_team(t.key)]
    for team in managed:
        queue = session.exec(select(Case).where(Case.team == team, Case.status == CaseStatus.OPEN.value)
                             .order_by(Case.opened_at)).all()
        blocks += [Divider(), Header(text=f"{ws.team(team).title}: unclaimed ({len(queue)})")]
        blocks += [Section(spans=line) for line in case_lines(session, ws, list(queue[:10]))] or [
            Context(spans=[plain("Nothing waiting.")])]
        if len(queue) > 10:
            blocks.append(Context(spans=[plain(f"…and {len(queue) - 10} more: `/cx open {team}` pages through them.")]))
    improving = improvement_home(session, ws, actor)
    if improving:
        blocks += [Divider(), *improving]
    # Scores and shout-outs (which may quote a customer's praise) only of the viewer's own teams.
    teams = visible_teams(actor, ws)
    week_start = now - timedelta(days=7)
    blocks += [Divider(), Header(text="This week's scores")]
    groups = {g.key: g for g in compute_scores(session.get_bind(), since=week_start, until=now, by="team",  # type: ignore[arg-type]
                                               teams=teams)} if teams else {}
    shown = [k for k in teams if k in groups]
    for key in shown[:6]:
        g = groups[key]

        def fmt(v: object, pct: bool = False) -> str:
            return "—" if v is None else (f"{v}%" if pct else f"{v:+.1f}")

        blocks.append(Fields(items=[
            FieldItem(label=f"{key} · NPS ({g.nps.responses})", value=[plain(fmt(g.nps.score))]),
            FieldItem(label=f"CSAT ({g.csat.responses})", value=[plain(fmt(g.csat.score, True))]),
            FieldItem(label=f"CES ({g.ces.responses})", value=[plain(fmt(g.ces.score, True))])]))
    if not teams:
        blocks.append(Context(spans=[plain(NO_TEAM)]))
    elif not shown:
        blocks.append(Context(spans=[plain("No survey answers for your team in the last 7 days.")]))
    recent = session.exec(select(Shoutout).where(Shoutout.status == "posted", Shoutout.source != "loop",
                                                 Shoutout.team.in_(teams))  # type: ignore[attr-defined]
                          .order_by(Shoutout.created_at.desc()).limit(5)).all() if teams else []
    blocks += [Divider(), Header(text="Recent shout-outs")]
    for so in recent:
        to = session.get(Member, so.to_member_id)
        spans: list[Span] = [plain("🎉 "), *([Mention(person=person_ref(to))] if to else []),
                             plain(f" — {so.text[:200]}")]
        blocks.append(Section(spans=spans))
    if not recent:
        blocks.append(Context(spans=[plain(NO_TEAM if not teams else
                                           "No shout-outs yet: `/cx kudos @someone for …` starts one.")]))
    return Message(text="cxloop home", blocks=blocks[:100])
