"""The Teams side of the sandbox: what one person sees in Teams, and what the Bot Connector sends when they act.

What is shown is what the Bot Connector stand-in holds: the team's channel posts with their reply
threads (cards edited in place), and the person's chat with cxloop. What is sent is what Teams
sends, signed with a Bot Framework token: `cx …` messages, `task/fetch` when a card button is
clicked (cxloop answers with a dialog or a one-line message only the clicker sees) and
`task/submit` when a dialog is submitted (standins/bot_connector.py).
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from standins.sandbox.slack_side import SandboxError
from standins.teams_cards import card_of
from standins.teams_tenant import ClientValidationError

if TYPE_CHECKING:
    from standins.sandbox.world import Sandbox

_ids = itertools.count(1)


@dataclass
class _Dialog:
    id: str
    body: dict[str, Any]  # the task/fetch or task/submit answer that opened it
    conversation_id: str  # where the button was: dialogs submit back there
    activity_id: str | None


class TeamsSide:
    def __init__(self, sandbox: Sandbox):
        from standins.sandbox.world import TEAMS_TEAM

        self.sb = sandbox
        self.teams = sandbox.teams
        self.team = TEAMS_TEAM
        self._lock = threading.RLock()
        self._dialogs: dict[str, list[_Dialog]] = {}  # person (Entra id) -> open dialogs, top last
        self._typed: list[dict[str, Any]] = []  # what people wrote in their chat with cxloop

    def aad(self, slack_id: str) -> str:
        return self.sb.person(slack_id).aad

    # --- reading ----------------------------------------------------------------------------

    def conversations(self, viewer: str) -> list[dict[str, Any]]:
        team = self.teams.teams[self.team]
        out = [{"id": cid, "name": name or "General", "kind": "channel", "team": team["name"]}
               for cid, name in team["channels"].items()]
        out.append({"id": self.teams.personal_chat(self.aad(viewer)) or "chat", "name": "cxloop", "kind": "chat"})
        return out

    def _conversation(self, viewer: str, conversation: str) -> str | None:
        if conversation == "chat":
            return self.teams.personal_chat(self.aad(viewer))
        if conversation in self.teams.teams[self.team]["channels"]:
            return conversation
        if conversation == self.teams.personal_chat(self.aad(viewer)):
            return conversation
        raise SandboxError(f"no conversation {conversation!r} for {viewer}")

    def _when(self, iso: str | None) -> str | None:
        if not iso:
            return None
        return self.sb.clock.at_wall(datetime.fromisoformat(iso).timestamp()).isoformat()

    def messages(self, viewer: str, conversation: str) -> list[dict[str, Any]]:
        """The conversation, oldest first: posts (cards or text) with their thread replies."""
        cid = self._conversation(viewer, conversation)
        if cid is None:
            return []
        out = []
        for a in self.teams.activities(cid):
            out.append({"id": a["id"], "threadRoot": a.get("threadRoot"), "from": a.get("from") or {},
                        "bot": (a.get("from") or {}).get("id") == self.teams.bot_id, "text": a.get("text") or "",
                        "card": card_of(a), "edited": bool(a.get("versions")), "at": self._when(a.get("timestamp")),
                        "wall": datetime.fromisoformat(a["timestamp"]).timestamp()})
        aad = self.aad(viewer)
        with self._lock:
            out += [dict(m) for m in self._typed if m["conversation"] == cid and m["aad"] == aad]
        out.sort(key=lambda m: m["wall"])
        return out

    def dialog(self, viewer: str) -> dict[str, Any] | None:
        with self._lock:
            stack = self._dialogs.get(self.aad(viewer)) or []
            return _shown(stack[-1]) if stack else None

    # --- acting -----------------------------------------------------------------------------

    async def click(self, viewer: str, conversation: str, activity_id: str, title: str) -> dict[str, Any]:
        """`viewer` clicks a card button: the task/fetch invoke Teams sends; cxloop's answer is a dialog
        (a form) or a message only the clicker sees."""
        cid = self._conversation(viewer, conversation)
        if cid is None:
            raise SandboxError("that chat does not exist yet")
        try:
            activity = self.teams.activity(cid, activity_id)
            status, body = await self.teams.click(self.sb.bot_url, self.aad(viewer), cid, activity_id, title)
        except (LookupError, AssertionError) as exc:
            raise SandboxError(str(exc)) from None
        self.sb.changes += 1
        return self._answer(viewer, status, body, activity.get("conversationId") or cid, activity_id, replace=False)

    async def submit(self, viewer: str, dialog_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """`viewer` submits the dialog on top: the task/submit invoke Teams sends."""
        aad = self.aad(viewer)
        with self._lock:
            stack = self._dialogs.get(aad) or []
            top = stack[-1] if stack else None
        if top is None or top.id != dialog_id:
            raise SandboxError("that dialog is not open")
        try:
            status, body = await self.teams.submit(self.sb.bot_url, aad, top.body, inputs,
                                                   conversation_id=top.conversation_id, activity_id=top.activity_id)
        except ClientValidationError as exc:
            # What Teams itself refuses to send (a required input left empty): it stays open, saying why.
            return {"status": None, "refused": str(exc), "dialog": _shown(top)}
        self.sb.changes += 1
        return self._answer(viewer, status, body, top.conversation_id, top.activity_id, replace=True)

    def close_dialog(self, viewer: str, dialog_id: str) -> None:
        with self._lock:
            stack = self._dialogs.get(self.aad(viewer)) or []
            if stack and stack[-1].id == dialog_id:
                stack.pop()
        self.sb.changes += 1

    def _answer(self, viewer: str, status: int, body: Any, conversation_id: str, activity_id: str | None, *,
                replace: bool) -> dict[str, Any]:
        aad = self.aad(viewer)
        task = (body or {}).get("task") if isinstance(body, dict) else None
        with self._lock:
            stack = self._dialogs.setdefault(aad, [])
            if replace and stack:
                stack.pop()
            if status != 200:
                return {"status": status, "message": f"cxloop answered {status}"}
            if task and task.get("type") == "continue":
                dialog = _Dialog(f"d{next(_ids)}", body, conversation_id, activity_id)
                stack.append(dialog)
                return {"status": status, "dialog": _shown(dialog)}
            if task and task.get("type") == "message":
                return {"status": status, "message": task.get("value")}
        return {"status": status, "closed": True}

    async def message(self, viewer: str, conversation: str, text: str) -> int:
        """`viewer` writes to cxloop: `cx …` in their chat, or a post @mentioning cxloop in a channel.
        `@Full Name` of a colleague becomes a Teams mention."""
        aad = self.aad(viewer)
        line = text.strip()
        if not line:
            raise SandboxError("type a command, e.g. cx help")
        cid = self._conversation(viewer, conversation)
        if cid is None:
            # The first message to cxloop in a personal chat installs the app for that person, as Teams does.
            cid = await self.teams.install_personal(self.sb.bot_url, aad)
        kind = "chat" if cid == self.teams.personal_chat(aad) else "channel"
        mentions = [p.aad for p in self.sb.people if re.search(rf"@{re.escape(p.name)}\b", line)]
        if kind == "chat":
            with self._lock:
                self._typed.append({"id": f"typed-{next(_ids)}", "threadRoot": None, "conversation": cid, "aad": aad,
                                    "from": {"name": self.sb.person(viewer).name}, "bot": False, "text": line,
                                    "card": None, "edited": False, "at": self.sb.clock().isoformat(),
                                    "wall": time.time()})
        status, _ = await self.teams.message(self.sb.bot_url, aad, line, conversation=cid, mentions=mentions)
        self.sb.changes += 1
        return status


def _shown(d: _Dialog) -> dict[str, Any]:
    info = d.body["task"]["value"]
    return {"id": d.id, "title": info.get("title") or "", "width": info.get("width"),
            "card": ((info.get("card") or {}).get("content"))}
