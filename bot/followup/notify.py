"""After a follow-up changes: queue its owner's DM (or its edit) and the edit of the daily post listing it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func
from sqlmodel import Session, select

from bot.cases.notify import channel_targets, member_targets, refresh_homes
from bot.config import Workspace
from bot.followup import messages as fm
from bot.followup.rules import Status
from bot.followup.service import FollowUpView, load_view, load_views
from bot.machinery.queueing import enqueue
from storage.models import FollowUp, Member, OutboxMessage


@dataclass(frozen=True)
class Page:
    """Where a page of a daily post sits: `key` is its outbox key without the platform."""

    team: str
    day: date
    page: int
    pages: int

    @property
    def key(self) -> str:
        return f"followups:{self.team}:{self.day.isoformat()}:{self.page}/{self.pages}"

    @property
    def day_prefix(self) -> str:
        return f"followups:{self.team}:{self.day.isoformat()}:"

    @classmethod
    def parse(cls, key: str) -> "Page":
        _, team, day, where = key.split(":")
        page, pages = where.split("/")
        return cls(team=team, day=date.fromisoformat(day), page=int(page), pages=int(pages))


def waiting_before(session: Session, page: Page) -> int:
    """Follow-ups of the team listed in earlier posts that nobody has taken yet."""
    return int(session.exec(select(func.count()).select_from(FollowUp).where(
        FollowUp.team == page.team, FollowUp.status == Status.OPEN.value, FollowUp.listed_key.is_not(None),  # type: ignore[union-attr]
        ~FollowUp.listed_key.startswith(page.day_prefix))).one())  # type: ignore[union-attr]


def page_message(session: Session, ws: Workspace, page: Page, ids: list[int]) -> fm.Message:
    views = list(load_views(session, ws, ids).values())
    title = ws.team(page.team).title if page.team in {t.key for t in ws.teams} else page.team
    return fm.page_message(views, team_title=title, day=page.day, page=page.page, pages=page.pages,
                           mask=ws.mask_email, waiting_before=waiting_before(session, page) if page.page == 1 else 0)


def refresh_page(session: Session, ws: Workspace, listed_key: str | None) -> None:
    """Edit the page of the daily post that lists a follow-up, in every channel it went to."""
    if not listed_key:
        return
    page = Page.parse(listed_key)
    rows = session.exec(select(FollowUp.id, FollowUp.version).where(FollowUp.listed_key == listed_key)
                        .order_by(FollowUp.id)).all()
    ids = [i for i, _ in rows]
    # Versions only go up, so their sum names this state of the page: one edit per state.
    state = sum(v for _, v in rows)
    msg = page_message(session, ws, page, ids)
    posted = session.exec(select(OutboxMessage.platform, OutboxMessage.target).where(
        OutboxMessage.dedupe_key.in_([f"{p}:{listed_key}" for p, _ in channel_targets(ws, page.team)] or [""]))).all()  # type: ignore[attr-defined]
    for platform, target in posted:
        anchor = f"{platform}:{listed_key}"
        enqueue(session, key=f"{anchor}:edit:{state}", platform=platform, action="update", target=target,
                message=msg, anchor_key=anchor)


def dm_key(platform: str, fid: int) -> str:
    return f"{platform}:followup:{fid}:dm"


def publish_taken(session: Session, ws: Workspace, row: FollowUp) -> FollowUpView:
    """The new owner gets the follow-up in their DM; the post shows who has it."""
    view = load_view(session, ws, row.id)  # type: ignore[arg-type]
    owner = session.get(Member, row.owner_id)
    if owner is not None:
        msg = fm.owner_message(view, mask=ws.mask_email)
        for platform, user in member_targets(owner):
            enqueue(session, key=dm_key(platform, view.id), platform=platform, action="dm", target=user, message=msg)
        refresh_homes(session, [owner])
    refresh_page(session, ws, row.listed_key)
    return view


def publish_step(session: Session, ws: Workspace, row: FollowUp) -> FollowUpView:
    """A step was ticked: the owner's DM is edited in place, and the post when the follow-up is done."""
    view = load_view(session, ws, row.id)  # type: ignore[arg-type]
    owner = session.get(Member, row.owner_id) if row.owner_id else None
    if owner is not None:
        msg = fm.owner_message(view, mask=ws.mask_email)
        for platform, user in member_targets(owner):
            anchor = dm_key(platform, view.id)
            enqueue(session, key=f"{anchor}:v{row.version}", platform=platform, action="update", target=user,
                    message=msg, anchor_key=anchor)
        refresh_homes(session, [owner])
    refresh_page(session, ws, row.listed_key)
    return view
