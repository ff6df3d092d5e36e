"""Follow-ups and recovery where people already look: `/cx mine`, the App Home and the weekly digest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from bot.cases.messages import survey_label, when
from bot.chat.messages import Block, Context, Header, Section, Span, bold, plain
from bot.config import Workspace
from bot.followup.report import LoopFigures, loop_figures
from bot.followup.rules import Status
from bot.intake.cutoffs import DETRACTOR_MAX
from bot.followup.service import FollowUpView, load_views
from bot.people.roster import Actor
from storage.models import FollowUp

RECOVERY_WINDOW = timedelta(days=90)  # the digest's recovery figures: cases opened in the 90 days to the week's end


def my_follow_ups(session: Session, ws: Workspace, actor: Actor) -> list[FollowUpView]:
    """The viewer's follow-ups not done yet, soonest due first."""
    ids = list(session.exec(select(FollowUp.id).where(FollowUp.owner_id == actor.id,
                                                      FollowUp.status == Status.IN_PROGRESS.value)
                            .order_by(FollowUp.due_at, FollowUp.id)))
    return list(load_views(session, ws, ids).values())


def line(view: FollowUpView) -> list[Span]:
    """One follow-up in a list: number, kind, score, next step and due time."""
    r = view.response
    spans: list[Span] = [bold(f"Follow-up #{view.id}"),
                         plain(f" {view.category.label} · {survey_label(r.survey, r.score)} · {view.team_title}")]
    nxt = view.next_step
    if nxt is not None:
        spans.append(plain(f" · next: {nxt.number}. {nxt.title}"))
    spans += [plain(" · due "), when(view.follow_up.due_at)]
    return spans


def follow_up_blocks(views: list[FollowUpView], *, limit: int, more: str) -> list[Block]:
    """"Your follow-ups (n)" and a line each, up to `limit`; `more` says where the rest are."""
    if not views:
        return []
    blocks: list[Block] = [Header(text=f"Your follow-ups ({len(views)})")]
    blocks += [Section(spans=line(v)) for v in views[:limit]]
    if len(views) > limit:
        blocks.append(Context(spans=[plain(f"…and {len(views) - limit} more: {more}")]))
    return blocks


# --- the weekly digest -----------------------------------------------------------------------


@dataclass(frozen=True)
class DigestLoops:
    """The digest's follow-up and recovery figures for one team."""

    week: LoopFigures         # follow-ups created during the week
    recovery: LoopFigures     # cases opened in the RECOVERY_WINDOW to the week's end

    @property
    def shown(self) -> bool:
        return bool(self.week.follow_ups or self.recovery.loops_closed)


def digest_loops(session: Session, ws: Workspace, team: str, week_start: datetime, week_end: datetime) -> DigestLoops:
    def one(since: datetime) -> LoopFigures:
        groups = loop_figures(session, ws, since=since, until=week_end, team=team, as_of=week_end)
        return groups[0] if groups else LoopFigures(key=team)

    return DigestLoops(week=one(week_start), recovery=one(week_end - RECOVERY_WINDOW))


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def digest_blocks(loops: DigestLoops | None) -> list[Block]:
    """The digest's lines on follow-ups and on customers won back (nothing when there is nothing to say)."""
    if loops is None or not loops.shown:
        return []
    w, r = loops.week, loops.recovery
    blocks: list[Block] = []
    if w.follow_ups:
        blocks.append(Section(spans=[bold("🤝 Follow-ups with passives and promoters: "), plain(
            f"{w.follow_ups} new this week · {w.follow_ups_taken} taken · {w.follow_ups_done} done")]))
    if r.loops_closed:
        spans: list[Span] = [bold("🔁 Won back: ")]
        if r.answered_again:
            spans.append(plain(f"{r.recovered} of {r.answered_again} customers who answered again after their loop "
                               f"was closed ({_pct(r.recovery_rate)} recovery rate)."))
        else:
            spans.append(plain("no customer has answered again since their loop was closed."))
        spans.append(plain(f" Answered again at all: {_pct(r.closed.rate)} of {r.closed.customers} whose loop was "
                           f"closed, against {_pct(r.not_closed.rate)} of {r.not_closed.customers} whose loop "
                           "was not."))
        blocks.append(Section(spans=spans))
        blocks.append(Context(spans=[plain("Cases opened in the last 90 days. Won back: an NPS detractor who now "
                                           f"answers {DETRACTOR_MAX + 1} or more, or a higher CSAT or CES.")]))
    return blocks
