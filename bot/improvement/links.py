"""Cases that fall in an active improvement's segment: their alert says so, and the improvement counts them.

A case matches when it belongs to the improvement's team and, where the improvement sets them, its
answer's touchpoint, one of its themes (stored, else offline), and its documented root-cause area
match. It is computed whenever the alert is drawn, so a case documented later joins then.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, select

from bot.assist.results import Classification
from bot.assist.service import workspace_themes
from bot.assist.themes import OTHER, offline_themes
from bot.chat.messages import Block, Context, plain
from bot.config import Workspace
from bot.improvement.enums import Stage
from bot.improvement.measure import answers
from storage.models import Case, Improvement, SurveyResponse

ACTIVE = [s.value for s in Stage if s.is_open]


def active(session: Session, team: str) -> list[Improvement]:
    """The team's improvements not yet closed or cancelled, oldest first."""
    return list(session.exec(select(Improvement).where(Improvement.team == team, Improvement.stage.in_(ACTIVE))  # type: ignore[attr-defined]
                             .order_by(Improvement.id)))


def matches(imp: Improvement, *, touchpoint: str | None, themes: Sequence[str], root_cause: str | None) -> bool:
    if imp.touchpoint and (touchpoint or "").lower() != imp.touchpoint:
        return False
    if imp.theme and imp.theme not in themes:
        return False
    return not (imp.root_cause and root_cause != imp.root_cause)


def improvements_for_case(session: Session, ws: Workspace, case: Case, response: SurveyResponse,
                          insight: Classification | None) -> list[Improvement]:
    found = active(session, case.team)
    if not found:
        return []
    if insight is not None:
        themes = list(insight.themes)
    elif response.comment and response.comment.strip():
        themes = offline_themes(response.comment, workspace_themes(ws))
    else:
        themes = []
    themes = [t for t in themes if t != OTHER]
    return [imp for imp in found
            if matches(imp, touchpoint=response.touchpoint, themes=themes, root_cause=case.root_cause)]


def case_notes(session: Session, ws: Workspace, case: Case, response: SurveyResponse,
               insight: Classification | None) -> list[Block]:
    """The alert's line naming the improvements this case is part of (none: no line)."""
    found = improvements_for_case(session, ws, case, response, insight)
    if not found:
        return []
    names = "; ".join(f"#{imp.id} {imp.title}" for imp in found[:3])
    more = f" and {len(found) - 3} more" if len(found) > 3 else ""
    word = "improvement" if len(found) == 1 else "improvements"
    return [Context(spans=[plain(f"🔧 Part of {word} {names}{more}")])]


def linked_cases(session: Session, ws: Workspace, imp: Improvement, since: datetime, until: datetime) -> int:
    """How many of the segment's answers in [since, until) opened a case that matches: how often the
    problem still happens."""
    rows = answers(session, imp.team, since, until, touchpoint=imp.touchpoint, themes=workspace_themes(ws))
    return sum(1 for a in rows if a.case_id is not None
               and matches(imp, touchpoint=a.touchpoint, themes=a.themes, root_cause=a.root_cause))
