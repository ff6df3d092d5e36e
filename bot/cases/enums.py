"""Action and form ids shared by the core and every chat adapter."""

from __future__ import annotations

import enum


class CaseAction(str, enum.Enum):
    TAKE = "case_take"
    ASSIGN = "case_assign"          # user picker on an unclaimed case
    REASSIGN = "case_reassign"      # user picker on an owned case: asks for a reason
    DISMISS = "case_dismiss"
    STEP = "case_step"              # opens the form for the step in the value
    CLOSE_LOOP = "case_close_loop"
    REOPEN = "case_reopen"
    SNOOZE = "case_snooze"
    REMIND_OWNER = "case_remind_owner"


class CaseForm(str, enum.Enum):
    STEP = "form_step"
    DISMISS = "form_dismiss"
    CLOSE_LOOP = "form_close_loop"
    REOPEN = "form_reopen"
    REASSIGN = "form_reassign"
    SNOOZE = "form_snooze"
