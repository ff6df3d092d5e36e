"""What Teams sends the bot: activities (installs, `cx` messages, card clicks, dialog submits) POSTed with a
signed Bot Framework token, as the stand-in plays the Teams client.

A mixin of BotConnectorStandIn (standins/bot_connector.py).
"""


from __future__ import annotations

import copy
import json
import uuid
from datetime import datetime, timezone
from typing import Any

import aiohttp

from standins.teams_cards import card_of, find_actions, find_inputs
from standins.teams_tenant import ClientValidationError, Conversation, TeamsUser


class TeamsClient:
    """The Teams side: activities to the bot."""

    def envelope(self, user: TeamsUser | None, conversation_id: str, **fields: Any) -> dict[str, Any]:
        """An activity from `user` in a conversation, addressed and dressed as Teams sends it."""
        with self._lock:
            conv = self._conversations[conversation_id.split(";messageid=")[0]]
        now = datetime.now(timezone.utc)
        data: dict[str, Any] = {"tenant": {"id": self.tenant_id}}
        event = fields.pop("eventType", None)
        if event:
            data["eventType"] = event
        if conv.team:
            team = self.teams[conv.team]
            data.update(team={"id": conv.team, "name": team["name"],
                              "aadGroupId": str(uuid.uuid5(uuid.NAMESPACE_OID, conv.team))},
                        channel={"id": conv.id, "name": conv.name})
        data.update(fields.pop("channelData", {}))
        activity: dict[str, Any] = {
            "id": fields.pop("id", None) or f"f:{uuid.uuid4().hex}", "timestamp": now.isoformat(),
            "serviceUrl": self.service_url, "channelId": "msteams",
            "from": user.account() if user else {"id": "29:system", "name": ""},
            "conversation": {"id": conversation_id, "conversationType": conv.kind, "tenantId": self.tenant_id,
                             "isGroup": conv.kind != "personal", **({"name": conv.name} if conv.name else {})},
            "recipient": {"id": self.bot_id, "name": self.bot_name},
            "channelData": data, "locale": "en-GB",
        }
        if user:
            activity.update(localTimezone=user.tz, localTimestamp=now.isoformat(),
                            entities=[{"type": "clientInfo", "locale": "en-GB", "timezone": user.tz}])
        activity.update(fields)
        return activity

    async def post(self, bot_url: str, activity: dict[str, Any], *, token: str | None = "valid",
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """POST an activity to the bot as the Bot Framework does; returns (status, JSON body or None)."""
        sent = dict(headers or {})
        if token == "valid":
            if self.app_id:
                sent["Authorization"] = f"Bearer {self.channel_token()}"
        elif token:
            sent["Authorization"] = f"Bearer {token}"
        async with aiohttp.ClientSession() as http:
            async with http.post(bot_url, json=activity, headers=sent) as r:
                text = await r.text()
                try:
                    body = json.loads(text) if text else None
                except ValueError:
                    body = text
                with self._lock:
                    self.to_bot.append({"activity": activity, "status": r.status, "body": body})
        if self.after_post is not None:
            # The bot handles most activities after acknowledging them; a test harness waits here.
            await self.after_post()
        return r.status, body

    async def install_in_team(self, bot_url: str, team_id: str, *, by: str) -> tuple[int, Any]:
        """cxloop added to a team: conversationUpdate (bot in membersAdded), then installationUpdate."""
        with self._lock:
            for cid in self.teams[team_id]["channels"]:
                self._conversations[cid].bot_present = True
        user = self.users[by]
        update = self.envelope(user, team_id, type="conversationUpdate", eventType="teamMemberAdded",
                                membersAdded=[{"id": self.bot_id}])
        update.pop("localTimezone", None)
        status, body = await self.post(bot_url, update)
        if status >= 300:
            return status, body
        return await self.post(bot_url, self.envelope(user, team_id, type="installationUpdate", action="add"))

    async def uninstall_from_team(self, bot_url: str, team_id: str, *, by: str) -> tuple[int, Any]:
        with self._lock:
            for cid in self.teams[team_id]["channels"]:
                self._conversations[cid].bot_present = False
        return await self.post(bot_url, self.envelope(self.users[by], team_id, type="installationUpdate",
                                                       action="remove"))

    async def install_personal(self, bot_url: str, aad: str) -> str:
        """Someone adds cxloop as a personal app: their 1:1 chat exists, and the bot hears of it."""
        user = self.users[aad]
        with self._lock:
            cid = self.personal_chat(aad) or "a:" + uuid.uuid5(uuid.NAMESPACE_OID, "chat:" + aad).hex
            self._conversations.setdefault(cid, Conversation(id=cid, kind="personal", members=[aad]))
            self._conversations[cid].bot_present = True
        status, _ = await self.post(bot_url, self.envelope(user, cid, type="conversationUpdate",
                                                            membersAdded=[{"id": self.bot_id}, user.account()]))
        assert status < 300, status
        await self.post(bot_url, self.envelope(user, cid, type="installationUpdate", action="add"))
        return cid

    async def install_in_group_chat(self, bot_url: str, chat_id: str, *, by: str) -> tuple[int, Any]:
        with self._lock:
            self._conversations[chat_id].bot_present = True
        return await self.post(bot_url, self.envelope(self.users[by], chat_id, type="conversationUpdate",
                                                       membersAdded=[{"id": self.bot_id}]))

    async def message(self, bot_url: str, aad: str, text: str, *, conversation: str,
                      mentions: list[str] | None = None, mention_bot: bool | None = None) -> tuple[int, Any]:
        """`aad` writes `text` in a conversation. In a channel it is a new post that @mentions cxloop (a
        bot only hears channel posts that mention it); `@Name` of each `mentions` person becomes a mention."""
        user = self.users[aad]
        with self._lock:
            conv = self._conversations[conversation]
        entities: list[dict[str, Any]] = []
        if mention_bot is None:
            mention_bot = conv.kind != "personal"
        if mention_bot:
            text = f"<at>{self.bot_name}</at> {text}"
            entities.append({"type": "mention", "text": f"<at>{self.bot_name}</at>",
                             "mentioned": {"id": self.bot_id, "name": self.bot_name}})
        for other in mentions or []:
            person = self.users[other]
            text = text.replace(f"@{person.name}", f"<at>{person.name}</at>")
            entities.append({"type": "mention", "text": f"<at>{person.name}</at>",
                             "mentioned": {"id": person.id, "name": person.name}})
        conv_id = conversation
        activity_id = None
        if conv.kind == "channel":
            with self._lock:
                post = self._store(conv, {"type": "message", "text": text, "from": user.account()}, None)
            activity_id = post["id"]
            conv_id = f"{conversation};messageid={activity_id}"
        activity = self.envelope(user, conv_id, type="message", text=text, textFormat="plain",
                                  **({"id": activity_id} if activity_id else {}))
        activity["entities"] = entities + activity.get("entities", [])
        return await self.post(bot_url, activity)

    def _card_location(self, conversation_id: str, activity_id: str) -> tuple[str, dict[str, Any]]:
        card_activity = self.activity(conversation_id, activity_id)
        return card_activity.get("conversationId") or conversation_id, card_activity

    async def click(self, bot_url: str, aad: str, conversation_id: str, activity_id: str, title: str
                    ) -> tuple[int, Any]:
        """`aad` clicks the button titled `title` (or starting with it) on a card: a task/fetch invoke."""
        where, card_activity = self._card_location(conversation_id, activity_id)
        card = card_of(card_activity)
        actions = [a for a in find_actions(card) if str(a.get("title", "")).startswith(title)]
        if not actions:
            raise LookupError(f"no button {title!r} on the card: {[a.get('title') for a in find_actions(card)]}")
        data = copy.deepcopy(actions[0].get("data") or {})
        kind = ((data.get("msteams") or {}).get("type")) if isinstance(data, dict) else None
        if kind != "task/fetch":
            raise AssertionError(f"button {title!r} does not open a dialog: {data!r}")
        invoke = self.envelope(self.users[aad], where, type="invoke", name="task/fetch",
                                value={"data": data, "context": {"theme": "default"}}, replyToId=activity_id)
        return await self.post(bot_url, invoke)

    async def submit(self, bot_url: str, aad: str, dialog: Any, inputs: dict[str, Any], *,
                     conversation_id: str, activity_id: str | None = None) -> tuple[int, Any]:
        """`aad` fills in the dialog's card and presses its submit button: a task/submit invoke.

        As the Teams client does, refuses to send when a required input is empty.
        """
        card = ((((dialog or {}).get("task") or {}).get("value") or {}).get("card") or {}).get("content")
        if card is None:
            raise AssertionError(f"not a dialog with a card: {dialog!r:.300}")
        known = {i["id"]: i for i in find_inputs(card)}
        unknown = set(inputs) - set(known)
        if unknown:
            raise ClientValidationError(f"inputs not on the card: {sorted(unknown)}; the card has {sorted(known)}")
        values: dict[str, Any] = {}
        for iid, el in known.items():
            value = inputs.get(iid, el.get("value"))
            if el["type"] == "Input.Toggle":
                on, off = el.get("valueOn", "true"), el.get("valueOff", "false")
                value = on if value in (True, on, "true") else off
            if value is None or value == "":
                if el.get("isRequired") and not (el["type"] == "Input.Toggle"):
                    raise ClientValidationError(f"{iid!r} is required")
                continue
            if el["type"] == "Input.Toggle" and el.get("isRequired") and value != el.get("valueOn", "true"):
                raise ClientValidationError(f"{iid!r} must be turned on")
            if el["type"] == "Input.Text" and el.get("maxLength") and len(str(value)) > int(el["maxLength"]):
                value = str(value)[: int(el["maxLength"])]  # the text box stops typing at maxLength
            values[iid] = str(value) if not isinstance(value, str) else value
        actions = find_actions(card)
        if not actions:
            raise AssertionError("the dialog has no submit button")
        data = {**copy.deepcopy(actions[-1].get("data") or {}), **values}
        invoke = self.envelope(self.users[aad], conversation_id, type="invoke", name="task/submit",
                                value={"data": data, "context": {"theme": "default"}},
                                **({"replyToId": activity_id} if activity_id else {}))
        return await self.post(bot_url, invoke)
