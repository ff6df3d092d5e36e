"""The daily follow-up post: once per team and working day, the follow-ups that came in since the last one.

At the start of business hours (`business_hours.start` on `business_hours.days`, in the workspace
time zone), each team channel gets one post listing the follow-ups created before that instant and
not listed yet, PER_PAGE to a page: page 1 is the post, the other pages are replies in its thread.
Listing a follow-up (its `listed_key`), claiming the day (`job_claim`) and queueing the pages
happen in one transaction, so a re-run, a missed run caught up later the same day or a second
replica posts nothing twice and leaves nothing out: what a missed day did not list, the next lists.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine, update
from sqlmodel import Session, select

from bot.cases.notify import channel_targets
from bot.config import Workspace
from bot.followup.messages import PER_PAGE
from bot.followup.notify import Page, page_message
from bot.machinery.queueing import enqueue
from bot.machinery.schedule import claim, due_job
from storage.db import session_scope
from storage.models import FollowUp

log = logging.getLogger(__name__)


def post_instant(ws: Workspace, now: datetime) -> datetime | None:
    """Today's posting instant, if today is a working day and it has come; else None."""
    day = now.astimezone(ws.zone).date()
    if day.weekday() not in ws.business_hours.days:
        return None
    at = datetime.combine(day, ws.business_hours.start, tzinfo=ws.zone)
    return at if now >= at else None


def _own_channels(ws: Workspace, team: str) -> list[tuple[str, str]]:
    t = ws.team(team)
    return channel_targets(ws, team) if (t.slack_channel or t.teams_channel) else []


def post_team(session: Session, ws: Workspace, team: str, at: datetime) -> int:
    """List the team's unlisted follow-ups from before `at`, once per day; returns the pages queued."""
    targets = _own_channels(ws, team)
    day = at.astimezone(ws.zone).date()
    if not targets or not claim(session, f"followups:{team}:{day.isoformat()}"):
        return 0
    ids = list(session.exec(select(FollowUp.id).where(FollowUp.team == team, FollowUp.listed_key.is_(None),  # type: ignore[union-attr]
                                                      FollowUp.created_at < at).order_by(FollowUp.id)))
    chunks = [ids[i:i + PER_PAGE] for i in range(0, len(ids), PER_PAGE)]
    first: Page | None = None
    for n, chunk in enumerate(chunks, 1):
        page = Page(team=team, day=day, page=n, pages=len(chunks))
        first = first or page
        session.execute(update(FollowUp).where(FollowUp.id.in_(chunk)).values(listed_key=page.key))  # type: ignore[union-attr]
        msg = page_message(session, ws, page, chunk)
        for platform, channel in targets:
            enqueue(session, key=f"{platform}:{page.key}", platform=platform, action="post", target=channel,
                    message=msg, thread_key=f"{platform}:{first.key}" if n > 1 else None)
    return len(chunks)


@due_job("follow_up_posts")
def post_follow_ups(engine: Engine, ws: Workspace, now: datetime) -> int:
    """Each team's daily follow-up post, once its instant has come; returns how many teams posted."""
    at = post_instant(ws, now)
    if at is None:
        return 0
    posted = 0
    for t in ws.teams:
        try:
            with session_scope(engine) as s:
                posted += post_team(s, ws, t.key, at) > 0
        except Exception:  # one team's failure never stops the others; its claim was rolled back
            log.exception("follow-up post for team %s failed", t.key)
    return posted
