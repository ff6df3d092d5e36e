"""The outer loop's forms (Slack modals, Teams dialogs): pure builders."""

from __future__ import annotations

from typing import Any

from bot.cases.messages import SNOOZE_CHOICES
from bot.cases.resolved import RootCause
from bot.chat.messages import (
    Block,
    Choice,
    ChoiceInput,
    Context,
    DateTimeInput,
    Form,
    Section,
    TextInput,
    UserInput,
    bold,
    plain,
)
from bot.config import Workspace
from bot.improvement.enums import MOVES, Dimension, ImproveForm, Metric, Stage
from bot.improvement.service import MAX_ACTION, MAX_NOTE, MAX_PROBLEM, MAX_TITLE, theme_set

METRIC_CHOICES = [Choice(value=Metric.NPS.value, label="NPS of the segment"),
                  Choice(value=Metric.CSAT.value, label="CSAT of the segment"),
                  Choice(value=Metric.CES.value, label="CES of the segment"),
                  Choice(value=Metric.THEME_SHARE.value, label="Share of comments raising the theme (lower is better)")]


def _suggested(dimension: str | None, value: str | None) -> tuple[str | None, str]:
    """A title and a metric to start from, for a huddle pattern."""
    if not dimension or not value:
        return None, Metric.NPS.value
    if dimension == Dimension.THEME.value:
        return f"Fewer complaints about {value}", Metric.THEME_SHARE.value
    if dimension == Dimension.ROOT_CAUSE.value:
        try:
            label = RootCause(value).label.lower()
        except ValueError:
            label = value
        return f"Fix what keeps going wrong in {label}", Metric.NPS.value
    return f"Better experience at {value}", Metric.NPS.value


def start_form(ws: Workspace, team: str, *, dimension: str | None = None, value: str | None = None,
               post: str | None = None) -> Form:
    """Start an improvement for `team`, prefilled from a huddle pattern when there is one."""
    title, metric = _suggested(dimension, value)
    t = ws.team(team)
    inputs: list[Any] = [
        TextInput(id="title", label="Title", required=True, max_length=MAX_TITLE, initial=title,
                  placeholder="Fewer customers waiting for a callback"),
        TextInput(id="problem", label="Problem statement", multiline=True, required=True, max_length=MAX_PROBLEM,
                  placeholder="What keeps going wrong, for whom, and how we know"),
        UserInput(id="owner", label="Owner (you, if left empty)", required=False),
        UserInput(id="co_owner", label="Second owner (optional)", required=False),
    ]
    if t.touchpoints:
        inputs.append(ChoiceInput(id="touchpoint", label="Touchpoint (optional)", required=False,
                                  options=[Choice(value=tp, label=tp) for tp in t.touchpoints],
                                  initial=value if dimension == Dimension.TOUCHPOINT.value else None))
    inputs += [
        ChoiceInput(id="theme", label="Theme (optional; needed for a theme's share)", required=False,
                    options=[Choice(value=th, label=th) for th in theme_set(ws).themes],
                    initial=value if dimension == Dimension.THEME.value else None),
        ChoiceInput(id="root_cause", label="Root-cause area (optional)", required=False,
                    options=[Choice(value=c.value, label=c.label) for c in RootCause],
                    initial=value if dimension == Dimension.ROOT_CAUSE.value else None),
        ChoiceInput(id="metric", label="Metric", options=METRIC_CHOICES, initial=metric),
        TextInput(id="target", label="Target (a number)", required=True, max_length=40,
                  placeholder="25", hint="The NPS, CSAT or CES to reach, or the theme's share (%) to get down to."),
        DateTimeInput(id="target_date", label="Target date", required=True),
    ]
    intro: list[Block] = [Section(spans=[bold(f"{t.title}: a new improvement")]),
                          Context(spans=[plain("cxloop measures the baseline itself: the segment's answers over the "
                                               "8 weeks before today. A SMART target needs a number and a date.")])]
    meta: dict[str, Any] = {"team": team}
    if dimension and value:
        meta["pattern"] = f"{dimension}:{value}"
    if post:
        meta["post"] = post
    return Form(callback=ImproveForm.START.value, title="Start an improvement", submit="Start", intro=intro,
                inputs=inputs, metadata=meta)


def move_form(imp_id: int, stage: Stage) -> Form:
    options = [Choice(value=s.value, label=s.label) for s in MOVES[stage]]
    return Form(callback=ImproveForm.MOVE.value, title=f"Improvement #{imp_id}", submit="Move",
                intro=[Section(spans=[plain(f"Now in {stage.label}. Each move is recorded with your note.")])],
                inputs=[ChoiceInput(id="to", label="Move to", options=options, initial=options[0].value if options else None),
                        TextInput(id="note", label="Note (a reason, to cancel)", multiline=True, required=False,
                                  max_length=MAX_NOTE)],
                metadata={"improvement": imp_id})


def action_form(imp_id: int) -> Form:
    return Form(callback=ImproveForm.ADD_ACTION.value, title=f"Plan for #{imp_id}", submit="Add",
                intro=[Context(spans=[plain("Its owner gets reminders as the due date comes, as with a case's steps.")])],
                inputs=[TextInput(id="title", label="Action", required=True, max_length=MAX_ACTION,
                                  placeholder="Log every callback promise in the tracker"),
                        UserInput(id="owner", label="Owner", required=True),
                        DateTimeInput(id="due", label="Due", required=True)],
                metadata={"improvement": imp_id})


def snooze_form(action_id: int) -> Form:
    return Form(callback=ImproveForm.SNOOZE.value, title="Snooze the action", submit="Snooze",
                intro=[Context(spans=[plain("Its reminders pause until then; managers still see it.")])],
                inputs=[ChoiceInput(id="for", label="Snooze for", initial="1d",
                                    options=[Choice(value=v, label=lbl) for v, lbl in SNOOZE_CHOICES]),
                        TextInput(id="reason", label="Why?", multiline=True, required=True, max_length=MAX_NOTE)],
                metadata={"action": action_id})


def extend_form(imp_id: int, *, target: float) -> Form:
    return Form(callback=ImproveForm.EXTEND.value, title=f"Target of #{imp_id}", submit="Save",
                intro=[Context(spans=[plain("A new date (and, if you like, a new number). Both are recorded.")])],
                inputs=[DateTimeInput(id="target_date", label="New target date", required=True),
                        TextInput(id="target", label="Target (leave as it is to keep it)", required=False,
                                  max_length=40, initial=f"{target:g}"),
                        TextInput(id="note", label="Why? (optional)", multiline=True, required=False,
                                  max_length=MAX_NOTE)],
                metadata={"improvement": imp_id})
