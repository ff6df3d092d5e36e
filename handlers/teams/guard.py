"""Which authenticated activities cxloop serves: only Teams, only its own tenant, only real people.

A valid Bot Framework token proves the activity came through the Azure Bot Service, not that it came
from Teams. The same bot can be reached over Web Chat (on by default in every Azure Bot) and Direct
Line, where the client picks `from.id` itself, so a token plus `channelId: "webchat"` and an
admin's id as `from.id` would act as that admin. So, after the token is checked:

- `channelId` must be `msteams`;
- an activity that cxloop runs as a person (a message, a button or a dialog) must carry the
  sender's Entra object id (`from.aadObjectId`): Teams always sends it, and it is the only id
  cxloop knows people by (never `from.id`);
- with TEAMS_APP_TENANT_ID set, every tenant the activity names (`channelData.tenant.id`,
  `conversation.tenantId`) must be that tenant, and it must name one.

A refused activity is answered 403, as the Bot Framework's authentication protocol asks of a bot
refusing a request whose channel it does not accept, and nothing of it is stored or run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botbuilder.schema import Activity, ActivityTypes

TEAMS_CHANNEL = "msteams"
# Activities cxloop runs as the sender: `cx …` commands, card buttons and dialog submits.
AS_A_PERSON = {ActivityTypes.message, ActivityTypes.invoke}


@dataclass(frozen=True)
class Refusal:
    """Why an authenticated activity is not served: the answer's text and the reason for the log."""

    answer: str
    reason: str


def tenants_named(activity: Activity) -> set[str]:
    """Every tenant id the activity names: Teams puts it in channelData, and on most activities in the conversation."""
    data: Any = activity.channel_data
    if data is not None and not isinstance(data, dict):
        data = data.serialize() if hasattr(data, "serialize") else vars(data)
    tenant = (data or {}).get("tenant") if isinstance(data, dict) else None
    named = {tenant.get("id") if isinstance(tenant, dict) else None}
    conv = activity.conversation
    if conv is not None:
        # botbuilder maps `tenant_id` to the key `tenantID`; Teams writes `tenantId`, which msrest keeps aside.
        extra = conv.additional_properties or {}
        named |= {conv.tenant_id, extra.get("tenantId"), extra.get("tenantID")}
    return {str(t) for t in named if t}


def refusal(activity: Activity, *, tenant_id: str | None) -> Refusal | None:
    """None when cxloop serves this activity; otherwise why not."""
    if activity.channel_id != TEAMS_CHANNEL:
        return Refusal("cxloop serves Microsoft Teams only",
                       f"channelId {str(activity.channel_id)[:40]!r} is not {TEAMS_CHANNEL!r}")
    if activity.type in AS_A_PERSON:
        sender = activity.from_property
        if sender is None or not str(sender.aad_object_id or "").strip():
            return Refusal("the sender has no Microsoft Entra object id",
                           f"a {activity.type} without from.aadObjectId (from.id {str(getattr(sender, 'id', None))[:60]!r})")
    if tenant_id:
        named = tenants_named(activity)
        if not named:
            return Refusal("the activity names no tenant", f"a {activity.type} that names no tenant")
        if named != {tenant_id}:
            # Someone in another organisation installed the app: they are not cxloop users.
            return Refusal("this cxloop serves another organisation",
                           f"tenant {', '.join(sorted(t[:60] for t in named))} (cxloop serves {tenant_id})")
    return None
