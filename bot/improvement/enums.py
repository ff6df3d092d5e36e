"""Stages, metrics, pattern dimensions, and the action and form ids of the outer loop."""

from __future__ import annotations

import enum


class Stage(str, enum.Enum):
    PLAN = "plan"
    DO = "do"
    CHECK = "check"
    ACT = "act"
    CONTROL = "control"
    CLOSED = "closed"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return self.value.title()

    @property
    def is_open(self) -> bool:
        """Still being worked on or guarded (neither closed nor cancelled)."""
        return self not in (Stage.CLOSED, Stage.CANCELLED)

    @property
    def changing(self) -> bool:
        """The change is under way and measured every week."""
        return self in (Stage.DO, Stage.CHECK, Stage.ACT)


# Where each stage may move, by the owner or a team manager (bot/improvement/service.py has the
# extra conditions: an action before Do, a met target before Control, a reason to cancel).
MOVES: dict[Stage, tuple[Stage, ...]] = {
    Stage.PLAN: (Stage.DO, Stage.CANCELLED),
    Stage.DO: (Stage.CHECK, Stage.ACT, Stage.CONTROL, Stage.PLAN, Stage.CANCELLED),
    Stage.CHECK: (Stage.ACT, Stage.CONTROL, Stage.DO, Stage.PLAN, Stage.CANCELLED),
    Stage.ACT: (Stage.CONTROL, Stage.DO, Stage.PLAN, Stage.CANCELLED),
    Stage.CONTROL: (Stage.CLOSED, Stage.PLAN, Stage.CANCELLED),
    Stage.CLOSED: (Stage.PLAN,),
    Stage.CANCELLED: (),
}


class Metric(str, enum.Enum):
    NPS = "nps"
    CSAT = "csat"
    CES = "ces"
    THEME_SHARE = "theme_share"

    @property
    def label(self) -> str:
        return {"nps": "NPS", "csat": "CSAT", "ces": "CES", "theme_share": "Theme share"}[self.value]

    @property
    def higher_is_better(self) -> bool:
        return self is not Metric.THEME_SHARE

    @property
    def low(self) -> float:
        return -100.0 if self is Metric.NPS else 0.0

    @property
    def unit(self) -> str:
        return "" if self is Metric.NPS else "%"


class Dimension(str, enum.Enum):
    """What a huddle pattern groups by."""

    ROOT_CAUSE = "root_cause"
    THEME = "theme"
    TOUCHPOINT = "touchpoint"

    @property
    def label(self) -> str:
        return {"root_cause": "Root cause", "theme": "Theme", "touchpoint": "Touchpoint"}[self.value]


class ImproveAction(str, enum.Enum):
    START = "improve_start"            # a huddle pattern's "Start an improvement" (or /cx improve new)
    NOT_NOW = "improve_not_now"        # a huddle pattern's "Not now"
    MOVE = "improve_move"              # opens the stage form
    TO_CONTROL = "improve_to_control"  # the invitation's one click
    ADD_ACTION = "improve_add_action"
    TICK = "improve_tick"              # a plan action done
    SNOOZE = "improve_snooze"          # a plan action's reminders held
    EXTEND = "improve_extend"          # a new target date
    REOPEN = "improve_reopen"          # from a regression alert


class ImproveForm(str, enum.Enum):
    START = "form_improve_start"
    MOVE = "form_improve_move"
    ADD_ACTION = "form_improve_action"
    SNOOZE = "form_improve_snooze"
    EXTEND = "form_improve_extend"
