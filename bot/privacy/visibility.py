"""Who sees a customer's full contact details: the case's owner and the team's managers (and admins).

Everyone else, and every message posted where others read it, shows the masked email (d…@example.com).
"""

from __future__ import annotations

from bot.people.roster import Actor
from storage.models import Case


def sees_contact(actor: Actor, case: Case) -> bool:
    return case.owner_id == actor.id or actor.manages_team(case.team)
