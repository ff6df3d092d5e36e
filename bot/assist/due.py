"""The `assist` due job: registered when `bot.machinery.schedule` imports this module (nothing runs at import).

Each run, with the process's settings: classify new comments (and refresh the alert of any open case
whose themes the model changed), summarise last week for each team ahead of its digest, and let the
model confirm the staff names in recent praise before anyone is credited.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.assist import jobs
from bot.assist.service import assistant_for
from bot.config import Settings, Workspace
from bot.machinery.schedule import due_job
from storage.models import Case

log = logging.getLogger(__name__)


@due_job("assist")
def run_assist(engine: Engine, ws: Workspace, now: datetime) -> int:
    """Classify, summarise and check names; returns how many results were stored."""
    from bot.cases import notify
    from bot.reporting.weeks import digest_instant
    from bot.recognition.shoutouts import credit_named

    assistant = assistant_for(Settings(), engine, ws)

    def refresh(session: Session, done: jobs.Classified) -> None:
        if done.result.method != "openai":
            return  # the alert already shows the offline themes
        case = session.exec(select(Case).where(Case.response_id == done.response_id)).first()
        if case is not None and case.status in ("open", "in_progress"):
            notify.refresh_alert(session, ws, case)

    stored = jobs.classify_pending(engine, now, assistant=assistant, on_classified=refresh)
    local = now.astimezone(ws.zone).date()
    digest_at = digest_instant(ws, local - timedelta(days=local.weekday()))  # this week's digest
    stored += jobs.summarize_weeks(engine, [t.key for t in ws.teams], ws.zone, now, assistant=assistant,
                                   digest_at=digest_at)
    from bot.people.names import praise_roster

    with Session(engine) as s:
        people = praise_roster(s, ws)  # the YAML's names and those learned from chat profiles
    stored += jobs.credit_praise(engine, people, now, assistant=assistant,
                                 credit=lambda s, r, uids, at: credit_named(s, ws, r, uids, now=at))
    return stored
