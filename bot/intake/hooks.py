"""What else happens when a survey response is stored: features register a hook here.

Each hook runs in the same transaction as the new response (turning praise that names a team member
into a shout-out, for instance), so it happens exactly when the response is stored, and only then.
bot/wiring.py names the modules that register one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from bot.config import Workspace
from storage.models import SurveyResponse

ResponseHook = Callable[[Session, Workspace, SurveyResponse, datetime], None]

_HOOKS: list[ResponseHook] = []


def response_hook(fn: ResponseHook) -> ResponseHook:
    """Register `fn` to run for every newly stored response (only records it)."""
    if fn not in _HOOKS:
        _HOOKS.append(fn)
    return fn


def hooks() -> list[ResponseHook]:
    """Every registered hook, in registration order."""
    from bot import wiring

    wiring.load()
    return list(_HOOKS)
