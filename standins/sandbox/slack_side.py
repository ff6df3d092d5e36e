"""The Slack side of the sandbox: what one person sees in Slack, and what Slack sends when they act.

What is shown is what the Web API stand-in recorded cxloop sending: channel and DM messages with
their threads and edits, ephemeral messages (only to their person), answers to `/cx` on its
response_url, the App Home each person was published, and the modals opened with the trigger of
that person's click. What is sent is what Slack sends: signed block_actions, view_submission,
slash-command and Events API requests (standins/slack_sender.py).
"""

from __future__ import annotations

import json
import mimetypes
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from standins.sandbox.world import Sandbox


class SandboxError(ValueError):
    """A request the page made that cannot be carried out; the message says why."""


@dataclass
class _Origin:
    """Who made a request whose answer comes back later (a response_url answer)."""

    user: str
    channel: str | None
    command: str | None = None


@dataclass
class _Modal:
    view_id: str
    errors: dict[str, str] = field(default_factory=dict)
    replaced: dict[str, Any] | None = None  # a `response_action: update` answer replaces the view shown


class SlackSide:
    def __init__(self, sandbox: Sandbox):
        self.sb = sandbox
        self.slack = sandbox.slack
        self._lock = threading.RLock()
        self._trigger_owner: dict[str, str] = {}
        self._responders: dict[str, _Origin] = {}  # response_url token -> who asked, where
        self._modals: dict[str, list[_Modal]] = {}  # person -> their modal stack, top last
        self._views_seen = 0

    # --- reading ----------------------------------------------------------------------------

    def channels(self, viewer: str) -> list[dict[str, Any]]:
        out = [{"id": t.slack_channel, "name": f"#{t.key}", "title": t.title, "kind": "channel"}
               for t in self.sb.ws.teams if t.slack_channel]
        out.append({"id": self.slack.dm_channel(viewer), "name": "cxloop", "title": "Direct message with cxloop",
                    "kind": "dm"})
        out.append({"id": "home", "name": "cxloop · Home", "title": "cxloop's App Home", "kind": "home"})
        return out

    def _channel_id(self, viewer: str, channel: str) -> str | None:
        """A channel the page names: a team channel, "dm" (the person's DM with cxloop) or a DM id."""
        if channel == "dm":
            return self.slack.dm_channel(viewer)
        known = {t.slack_channel for t in self.sb.ws.teams}
        if channel in known or channel == self.slack.dm_channel(viewer):
            return channel
        raise SandboxError(f"no channel {channel!r} for {viewer}")

    def _when(self, wall: float) -> str:
        return self.sb.clock.at_wall(wall).isoformat()

    def messages(self, viewer: str, channel: str) -> list[dict[str, Any]]:
        """The channel as `viewer` sees it, oldest first: messages with their thread replies, the
        viewer's ephemerals and `/cx` answers, and answers others made public."""
        self.sync()
        cid = self._channel_id(viewer, channel)
        if cid is None:
            return []
        shown: list[dict[str, Any]] = []
        for m in self.slack.messages(cid):
            shown.append({**m, "at": self._when(float(m["ts"])), "files": [
                {**f, "url_private": f"/api/slack/files/{f['id']}"} for f in m.get("files") or []]})
        for e in self.slack.ephemerals:
            if e["channel"] == cid and e["user"] == viewer:
                shown.append({"ts": e["ts"], "text": e.get("text") or "", "blocks": e.get("blocks") or [],
                              "ephemeral": True, "at": self._when(float(e["ts"]))})
        for call in self.slack.calls_to("response_url"):
            body = call.body
            origin = self._responders.get(str(body.get("token")))
            if origin is None or origin.channel != cid or body.get("delete_original"):
                continue
            public = body.get("response_type") == "in_channel"
            if not public and origin.user != viewer:
                continue
            shown.append({"ts": f"{call.at:.6f}", "text": body.get("text") or "", "blocks": body.get("blocks") or [],
                          "ephemeral": not public, "command": origin.command, "by": origin.user,
                          "at": self._when(call.at)})
        shown.sort(key=lambda m: float(m["ts"]))
        return shown

    def home(self, viewer: str) -> dict[str, Any] | None:
        view = self.slack.home_views.get(viewer)
        return {"id": view["id"], "blocks": view.get("blocks") or []} if view else None

    def modal(self, viewer: str) -> dict[str, Any] | None:
        """The modal on top of the viewer's stack, with the errors its last submission got."""
        self.sync()
        with self._lock:
            stack = self._modals.get(viewer) or []
            if not stack:
                return None
            top = stack[-1]
        view = top.replaced or self.slack.view(top.view_id)
        if view is None:
            return None
        return {**view, "id": top.view_id, "errors": dict(top.errors)}

    def sync(self) -> None:
        """Give each modal cxloop opened to the person whose click carried its trigger."""
        calls = [c for c in self.slack.calls if c.method in ("views.open", "views.push", "views.update")]
        with self._lock:
            for call in calls[self._views_seen:]:
                if call.status is None:
                    break  # still in flight: look again next time
                self._views_seen += 1
                if call.status != 200:
                    continue
                if call.method == "views.update":
                    for stack in self._modals.values():
                        for modal in stack:
                            if modal.view_id == call.body.get("view_id"):
                                modal.replaced, modal.errors = None, {}
                    continue
                trigger = str(call.body.get("trigger_id") or "")
                user = self._trigger_owner.get(trigger)
                view_id = self.slack.view_for_trigger(trigger)
                if user is None or view_id is None:
                    continue
                stack = self._modals.setdefault(user, [])
                if call.method == "views.open":
                    stack.clear()
                stack.append(_Modal(view_id))

    # --- acting -----------------------------------------------------------------------------

    def _remember(self, user: str, body: bytes, channel: str | None, command: str | None = None) -> None:
        form = parse_qs(body.decode())
        with self._lock:
            if "payload" in form:
                payload = json.loads(form["payload"][0])
                self._trigger_owner[payload["trigger_id"]] = user
                url = payload.get("response_url")
            else:
                self._trigger_owner[form["trigger_id"][0]] = user
                url = form["response_url"][0]
            if url:
                self._responders[url.rsplit("/", 1)[-1]] = _Origin(user, channel, command)

    async def act(self, viewer: str, where: dict[str, Any], action_id: str, *, selected_user: str | None = None,
                  selected_option: str | None = None) -> int:
        """`viewer` clicks a button or picks an option: the block_actions request Slack would send."""
        kind = where.get("kind")
        channel: str | None = None
        if kind == "home":
            home = self.slack.home_views.get(viewer)
            if home is None:
                raise SandboxError("open the App Home first")
            body = self.sb.sender.action_body(viewer, action_id, view=home, selected_user=selected_user,
                                              selected_option=selected_option)
        elif kind == "modal":
            modal = self.modal(viewer)
            if modal is None:
                raise SandboxError("no modal is open")
            body = self.sb.sender.action_body(viewer, action_id, view=modal, selected_user=selected_user,
                                              selected_option=selected_option)
        elif kind in ("message", "ephemeral"):
            channel = self._channel_id(viewer, str(where.get("channel") or ""))
            ts = str(where.get("ts") or "")
            message = next((m for m in self.messages(viewer, channel or "") if m["ts"] == ts), None)
            if channel is None or message is None:
                raise SandboxError(f"no message {ts} in {where.get('channel')} for {viewer}")
            body = self.sb.sender.action_body(viewer, action_id, message=message, channel=channel,
                                              ephemeral=bool(message.get("ephemeral")), selected_user=selected_user,
                                              selected_option=selected_option)
        else:
            raise SandboxError(f"unknown place for a click: {kind!r}")
        self._remember(viewer, body, channel)
        reply = await self.sb.sender.post(body, "application/x-www-form-urlencoded")
        self.sb.changes += 1
        return reply.status

    async def submit(self, viewer: str, view_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """`viewer` presses the modal's submit button: a view_submission; Slack's answer decides what the page shows."""
        modal = self.modal(viewer)
        if modal is None or modal["id"] != view_id:
            raise SandboxError("that modal is not open")
        view = {k: v for k, v in modal.items() if k != "errors"}
        reply = await self.sb.sender.submit(viewer, view, _submitted_values(view, values))
        if reply.status != 200:
            raise SandboxError(f"cxloop answered {reply.status} to the submission")
        answer = reply.json() or {}
        action = answer.get("response_action") if isinstance(answer, dict) else None
        with self._lock:
            stack = self._modals.get(viewer) or []
            top = stack[-1] if stack else None
            if action == "errors" and top is not None:
                top.errors = dict(answer.get("errors") or {})
            elif action == "update" and top is not None:
                top.replaced, top.errors = answer.get("view"), {}
            elif action == "push" and answer.get("view"):
                stack.append(_Modal(view_id, replaced=answer["view"]))
            elif action == "clear":
                stack.clear()
            elif stack:
                stack.pop()
        self.sb.changes += 1
        return {"closed": action in (None, "clear"), "errors": answer.get("errors") if action == "errors" else {}}

    def close_modal(self, viewer: str, view_id: str) -> None:
        """The person cancels the modal (cxloop asks for no view_closed event, so Slack sends none)."""
        with self._lock:
            stack = self._modals.get(viewer) or []
            if stack and stack[-1].view_id == view_id:
                stack.pop()
        self.sb.changes += 1

    async def command(self, viewer: str, channel: str, text: str) -> int:
        """`viewer` types `/cx <text>` in a channel or their DM with cxloop."""
        line = text.strip()
        if not line.startswith("/cx"):
            raise SandboxError("cxloop reads only its command here: type /cx followed by a subcommand (/cx help)")
        rest = line[3:].strip()
        cid = self._channel_id(viewer, channel)
        if cid is None:
            raise SandboxError(f"{viewer} has no DM with cxloop")
        body = self.sb.sender.command_body(viewer, self.slack_mentions(rest), channel=cid)
        self._remember(viewer, body, cid, command=f"/cx {rest}".strip())
        reply = await self.sb.sender.post(body, "application/x-www-form-urlencoded")
        self.sb.changes += 1
        return reply.status

    async def open_home(self, viewer: str) -> int:
        """`viewer` opens cxloop's App Home: the app_home_opened event Slack sends."""
        reply = await self.sb.sender.home_opened(viewer)
        self.sb.changes += 1
        return reply.status

    def slack_mentions(self, text: str) -> str:
        """`@Full Name`, `@First` or `@first.last` as Slack sends a mention in a command (`<@U…|name>`),
        the longest name first."""
        names: list[tuple[str, str]] = []
        for p in self.sb.people:
            handle = ".".join(p.name.lower().split())
            names += [(p.name, p.slack_id), (handle, p.slack_id)]
        firsts: dict[str, list[str]] = {}
        for p in self.sb.people:
            firsts.setdefault(p.name.split()[0].lower(), []).append(p.slack_id)
        names += [(first, ids[0]) for first, ids in firsts.items() if len(ids) == 1]
        for name, uid in sorted(names, key=lambda n: -len(n[0])):
            handle = ".".join(self.sb.person(uid).name.lower().split())
            text = re.sub(rf"(?<![<\w])@{re.escape(name)}\b", f"<@{uid}|{handle}>", text, flags=re.IGNORECASE)
        return text

    def file(self, file_id: str) -> tuple[bytes, str] | None:
        f = self.slack.files.get(file_id)
        if f is None or f.get("content") is None:
            return None
        return f["content"], mimetypes.guess_type(f["name"])[0] or "application/octet-stream"


def _submitted_values(view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The page's form values, checked against the modal's inputs, in the shapes SlackSender.submit takes."""
    out: dict[str, Any] = {}
    for b in view.get("blocks") or []:
        if b.get("type") != "input":
            continue
        bid, el = b["block_id"], b["element"]
        v = values.get(bid)
        t = el["type"]
        if v in (None, "", []):
            out[bid] = False if t == "checkboxes" else None
        elif t == "static_select":
            if v not in {o["value"] for o in el.get("options") or []}:
                raise SandboxError(f"{v!r} is not an option of {bid!r}")
            out[bid] = v
        elif t == "checkboxes":
            out[bid] = bool(v)
        elif t == "datetimepicker":
            try:
                out[bid] = int(v)
            except (TypeError, ValueError):
                raise SandboxError(f"{bid!r} takes a date and time (epoch seconds), not {v!r}") from None
        else:
            out[bid] = str(v)
    unknown = set(values) - {b.get("block_id") for b in view.get("blocks") or []}
    if unknown:
        raise SandboxError(f"the modal has no input {sorted(unknown)}")
    return out
