"""Every feature module that registers something, named in one place.

Commands (`/cx …`), chat actions and forms, due jobs and response hooks are registered by the
module that owns them, with a decorator that only records the function (nothing runs at import).
This file says which modules those are: the registries call `load()` before they are first used,
and `cxloop serve` calls it at start, so a module that is missing or broken stops the process at
once, naming itself, instead of a command or a job quietly never existing.
"""

from __future__ import annotations

import importlib

# `/cx` subcommands (bot/console/registry.py)
COMMANDS = (
    "bot.console.registry",
    "bot.console.commands",
    "bot.reporting.commands",
    "bot.recognition.shoutouts",
    "bot.improvement.commands",
    "bot.privacy.commands",
)

# Buttons, pickers and forms, for Slack and Teams alike (bot/chat/interactions.py)
ACTIONS = (
    "bot.cases.actions",
    "bot.nudges.actions",
    "bot.console.actions",
    "bot.recognition.actions",
    "bot.assist.actions",
    "bot.followup.actions",
    "bot.improvement.actions",
    "bot.privacy.actions",
)

# Work done at an instant by `run-due` and the scheduler (bot/machinery/schedule.py)
DUE_JOBS = (
    "bot.nudges.jobs",
    "bot.reporting.jobs",
    "bot.recognition.shoutouts",
    "bot.recognition.csweek",
    "bot.assist.due",
    "bot.followup.batch",
    "bot.followup.nudges",
    "bot.followup.outgoing",
    "bot.improvement.jobs",
    "bot.privacy.due",
)

# Called for every newly stored survey response, in its transaction (bot/intake/hooks.py)
RESPONSE_HOOKS = (
    "bot.recognition.shoutouts",
    "bot.followup.service",
    "bot.followup.recovery",
)

MODULES = tuple(dict.fromkeys(COMMANDS + ACTIONS + DUE_JOBS + RESPONSE_HOOKS))

_loaded = False


class WiringError(ImportError):
    """A module this file names cannot be imported."""


def load() -> None:
    """Import every registering module once; the first failure is raised with the module's name."""
    global _loaded
    if _loaded:
        return
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise WiringError(f"cxloop could not load {name} (named in bot/wiring.py): {exc!r}") from exc
    _loaded = True
