"""The Teams activity handler: installs, `cx …` commands, card buttons and dialogs. No business rules.

- Installs (conversationUpdate with cxloop among the members added, installationUpdate) store the
  conversation reference, and for a team one per channel, in the database; removals forget them.
- A message is a `cx …` command: `@cxloop cx case 42` in a channel or group chat, `cx case 42` (or
  just `case 42`) in the personal chat. It runs `bot.console.registry.dispatch` as the sender, with the same
  roles and permissions as `/cx`, and the answer is posted where it was asked (Teams has no
  ephemeral messages: in a channel, the thread of the command). An answer showing customer details
  (`Reply.private`) asked for in a channel or group chat goes to the asker's personal chat instead,
  with a pointer in the thread, or is refused there when cxloop has no personal chat with them
  (`bot.console.registry.route_reply` decides).
- Card buttons open dialogs (`task/fetch`); dialog forms come back as `task/submit`. What each
  does is the core's (each feature's `actions.py`, bot/chat/interactions.py); `interactions.py` here
  adds Teams' picker and confirmation dialogs.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import uuid
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsActivityHandler, TeamsInfo
from botbuilder.schema import Activity, ActivityTypes, Attachment, ChannelAccount
from botbuilder.schema.teams import (
    ChannelInfo,
    TaskModuleContinueResponse,
    TaskModuleMessageResponse,
    TaskModuleRequest,
    TaskModuleResponse,
    TaskModuleTaskInfo,
    TeamInfo,
    TeamsChannelAccount,
)
from sqlmodel import Session, select

from bot.chat import mentions
from bot.chat.interactions import Done, Outcome
from bot.chat.messages import Context, Form, Message, Section, bold, plain
from bot.console import registry as commands
from bot.errors import BadInput, CxError
from bot.machinery.queueing import enqueue
from bot.machinery.runtime import Runtime
from handlers.teams import card_forms, cards, conversations, interactions
from handlers.teams.people import actor_of, learn_names, member_by_teams, mention_token, teams_user_id
from storage.models import Member, ProcessedEvent

log = logging.getLogger(__name__)

MAX_DIALOG_TEXT = 500
# A command, markup included, is far shorter (a 1,000-character kudos in Teams' HTML is about 2,000);
# longer text is refused before any parsing, so no message can keep the event loop busy.
MAX_COMMAND_TEXT = 8000
MAX_MENTIONS = 10  # people looked up per command (one Bot Connector call each)
# Both patterns stop at the next `<`, so each character is scanned a bounded number of times: linear
# even on 100 KB of `<` (`<[^>]+>` tried every `<` against the rest of the text: quadratic).
_AT = re.compile(r"<at>([^<]*)</at>", re.IGNORECASE)
_TAGS = re.compile(r"<[^<>]*>")


def teams_wording(text: str) -> str:
    """The core says `/cx …` (Slack's slash command); in Teams the same command is typed `cx …`."""
    return re.sub(r"(^|[\s`(])/cx\b", r"\1cx", text)


def _mention_parts(entity: Any) -> tuple[str | None, str | None, str | None]:
    """(id, name, text) of a mention entity, however botbuilder deserialized it."""
    props = dict(getattr(entity, "additional_properties", None) or {})
    mentioned = getattr(entity, "mentioned", None) or props.get("mentioned") or {}
    if not isinstance(mentioned, dict):
        mentioned = {"id": getattr(mentioned, "id", None), "name": getattr(mentioned, "name", None)}
    return mentioned.get("id"), mentioned.get("name"), getattr(entity, "text", None) or props.get("text")


def _mentions(activity: Activity) -> list[Any]:
    """The message's mention entities: the bot's and at most MAX_MENTIONS others'."""
    return [e for e in activity.entities or [] if (getattr(e, "type", "") or "").lower() == "mention"
            ][:MAX_MENTIONS + 1]


def command_line(activity: Activity, people: dict[str, str] | None = None) -> str:
    """The command typed, without the bot's @mention and the `cx` prefix; other @mentions as `<@id>`.

    CPU work on the text (callers run it off the event loop, on text within MAX_COMMAND_TEXT).
    """
    text = (activity.text or "")[:MAX_COMMAND_TEXT]
    bot_id = activity.recipient.id if activity.recipient else None
    tokens: list[str] = []
    for entity in _mentions(activity):
        mid, name, tag = _mention_parts(entity)
        if not tag:
            continue
        if mid == bot_id:
            text = text.replace(tag, " ")
        elif people and mid in people:
            # A placeholder first: the markup clean-up below must not eat the token.
            text = text.replace(tag, f" \x00{len(tokens)}\x00 ")
            tokens.append(people[mid])
    # Whatever markup is left (a mention we could not resolve, formatting) is read as the words shown.
    text = _AT.sub(lambda m: m.group(1), text)
    # Typed text never carries a token's delimiters (bot/chat/mentions.py): only the adapter adds tokens.
    text = mentions.clean(html.unescape(_TAGS.sub(" ", text)).replace("\xa0", " "))
    text = re.sub(r"\x00(\d+)\x00", lambda m: tokens[int(m.group(1))], text).strip()
    words = text.split(None, 1)
    if words and words[0].lower() in ("cx", "/cx", "@cx"):
        text = words[1] if len(words) > 1 else ""
    return text.strip()


def _zone(activity: Activity, member: Member | None, fallback: ZoneInfo) -> ZoneInfo:
    for name in (getattr(activity, "local_timezone", None), member.tz if member else None):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return fallback


def _dialog(card: dict[str, Any], title: str, *, width: str = "medium") -> TaskModuleResponse:
    info = TaskModuleTaskInfo(title=cards.cut(title, 60), width=width,
                              card=Attachment(content_type=cards.CONTENT_TYPE, content=card))
    return TaskModuleResponse(task=TaskModuleContinueResponse(value=info))


def _say(text: str) -> TaskModuleResponse:
    return TaskModuleResponse(task=TaskModuleMessageResponse(value=cards.cut(cards.neutralize(text), MAX_DIALOG_TEXT)))


def error_message(text: str) -> Message:
    return Message(text=text, blocks=[Section(spans=[plain(teams_wording(text))])])


def _help_message(reply: commands.Reply) -> Message:
    data = reply.message.model_dump(mode="json")

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (teams_wording(v) if k == "text" and isinstance(v, str) else fix(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    return Message.model_validate(fix(data))


class CxTeamsBot(TeamsActivityHandler):
    """cxloop in Teams."""

    def __init__(self, rt: Runtime, *, welcome: bool = True):
        super().__init__()
        self.rt = rt
        self.welcome = welcome

    async def _db(self, fn):  # type: ignore[no-untyped-def]
        return await asyncio.to_thread(self.rt.transaction, fn)

    # --- every activity ------------------------------------------------------------------

    async def on_turn(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if not self._is_removal(activity):
            user = teams_user_id(activity.from_property)
            try:
                await self._db(lambda s: conversations.remember_activity(s, activity, user_id=user,
                                                                         now=self.rt.now()))
            except Exception:  # a stale reference is better than a lost command
                log.exception("teams: could not store the conversation reference of %s", activity.conversation)
        await super().on_turn(turn_context)

    @staticmethod
    def _is_removal(activity: Activity) -> bool:
        if activity.type == ActivityTypes.installation_update:
            return (activity.action or "").startswith("remove")
        bot_id = activity.recipient.id if activity.recipient else None
        return any(m.id == bot_id for m in activity.members_removed or [])

    # --- installs ------------------------------------------------------------------------

    async def _store_team_channels(self, turn_context: TurnContext, team_id: str) -> list[tuple[str, str]]:
        """A reference for every channel of the team, so any of them can be a team's `teams_channel`."""
        team_ref = conversations.reference_of(turn_context.activity)
        team_ref.conversation.id = team_id
        try:
            client = await TeamsInfo.get_teams_connector_client(turn_context)
            # botbuilder's Teams client is synchronous: keep it off the event loop.
            listed = await asyncio.to_thread(lambda: client.teams.get_teams_channels(team_id).conversations)
        except Exception:
            log.exception("teams: could not list the channels of team %s; only the General channel is stored", team_id)
            listed = [ChannelInfo(id=team_id, name=None)]
        channels = [(c.id, c.name or "General") for c in listed or [] if c.id]
        if team_id not in {cid for cid, _ in channels}:
            channels.insert(0, (team_id, "General"))

        def store(s: Session) -> None:
            for cid, name in channels:
                conversations.remember_channel(s, team_ref, channel_id=cid, name=name, team_id=team_id,
                                               now=self.rt.now())

        await self._db(store)
        return channels

    async def on_teams_members_added(self, teams_members_added: list[TeamsChannelAccount], team_info: TeamInfo,
                                     turn_context: TurnContext) -> None:
        activity = turn_context.activity
        bot_id = activity.recipient.id if activity.recipient else None
        if not any(m.id == bot_id for m in teams_members_added or []):
            await self._learn_names(turn_context, [m for m in teams_members_added or [] if m.id != bot_id])
            return
        kind = activity.conversation.conversation_type if activity.conversation else None
        channels: list[tuple[str, str]] = []
        if team_info is not None and team_info.id:
            channels = await self._store_team_channels(turn_context, team_info.id)
            await self._learn_names(turn_context, None, team_id=team_info.id)
        log.info("teams: installed in %s %s", kind or "a conversation", activity.conversation.id)
        if self.welcome:
            await self._send(turn_context, self._welcome(kind, team_info, channels, activity.from_property))

    async def _learn_names(self, turn_context: TurnContext, accounts: list[TeamsChannelAccount] | None,
                           team_id: str = "") -> None:
        """Names from the roster (the whole team's when `accounts` is None): praise may name them."""
        try:
            if accounts is None:
                accounts = await TeamsInfo.get_team_members(turn_context, team_id)
            if accounts:
                await self._db(lambda s: learn_names(s, list(accounts)))
        except Exception:  # names are a nicety: an install or a new member never fails for them
            log.exception("teams: could not read the names of the team's members")

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        team = (conversations.channel_data(turn_context.activity).get("team") or {}).get("id")
        if team:
            await self._store_team_channels(turn_context, team)

    async def on_installation_update_remove(self, turn_context: TurnContext) -> None:
        await self._forget(turn_context)

    async def on_teams_members_removed(self, teams_members_removed: list[TeamsChannelAccount], team_info: TeamInfo,
                                       turn_context: TurnContext) -> None:
        bot_id = turn_context.activity.recipient.id if turn_context.activity.recipient else None
        if any(m.id == bot_id for m in teams_members_removed or []):
            await self._forget(turn_context)

    async def _forget(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        team = (conversations.channel_data(activity).get("team") or {}).get("id")

        def forget(s: Session) -> int:
            n = conversations.forget_team(s, team) if team else 0
            return n + conversations.forget(s, activity.conversation.id)

        n = await self._db(forget)
        log.info("teams: removed from %s (%d conversation reference(s) forgotten)", team or activity.conversation.id, n)

    async def on_teams_channel_created(self, channel_info: ChannelInfo, team_info: TeamInfo,
                                       turn_context: TurnContext) -> None:
        await self._channel_changed(channel_info, team_info, turn_context)

    async def on_teams_channel_renamed(self, channel_info: ChannelInfo, team_info: TeamInfo,
                                       turn_context: TurnContext) -> None:
        await self._channel_changed(channel_info, team_info, turn_context)

    async def on_teams_channel_restored(self, channel_info: ChannelInfo, team_info: TeamInfo,
                                        turn_context: TurnContext) -> None:
        await self._channel_changed(channel_info, team_info, turn_context)

    async def on_teams_channel_deleted(self, channel_info: ChannelInfo, team_info: TeamInfo,
                                       turn_context: TurnContext) -> None:
        if channel_info and channel_info.id:
            await self._db(lambda s: conversations.forget(s, channel_info.id))

    async def _channel_changed(self, channel_info: ChannelInfo, team_info: TeamInfo,
                               turn_context: TurnContext) -> None:
        if not (channel_info and channel_info.id and team_info and team_info.id):
            return
        team_ref = conversations.reference_of(turn_context.activity)
        await self._db(lambda s: conversations.remember_channel(s, team_ref, channel_id=channel_info.id,
                                                                name=channel_info.name, team_id=team_info.id,
                                                                now=self.rt.now()))

    def _welcome(self, kind: str | None, team: TeamInfo | None, channels: list[tuple[str, str]],
                 who: ChannelAccount | None) -> Message:
        if kind == "personal":
            name = (who.name if who else None) or "there"
            return Message(text="cxloop is here", blocks=[
                Section(spans=[plain(f"👋 Hi {name}! The cases you own, their reminders and the answers to your "
                                     "commands come to this chat.")]),
                Context(spans=[plain("Type cx help to see what you can do.")])])
        if channels:
            lines = [plain(f"👋 cxloop is in {team.name if team and team.name else 'this team'}. "
                           "To send a cxloop team's case alerts to one of these channels, put its id in the "
                           "workspace YAML as teams_channel:\n")]
            for cid, name in channels[:40]:
                lines += [bold(name), plain(": "), plain(cid, "code"), plain("\n")]
            return Message(text="cxloop is here", blocks=[Section(spans=lines),
                                                          Context(spans=[plain("Type @cxloop cx help to see the commands.")])])
        return Message(text="cxloop is here", blocks=[
            Section(spans=[plain("👋 cxloop is here. Type @cxloop cx help to see the commands.")])])

    # --- messages: `cx …` commands -------------------------------------------------------

    async def _send(self, turn_context: TurnContext, msg: Message) -> None:
        for card in cards.message_cards(msg):
            await turn_context.send_activity(Activity(
                type=ActivityTypes.message, summary=cards.summary(msg),
                attachments=[Attachment(content_type=cards.CONTENT_TYPE, content=card)]))

    def _first_time(self, activity_id: str | None) -> bool:
        if not activity_id:
            return True

        def seen(s: Session) -> bool:
            if s.exec(select(ProcessedEvent.id).where(ProcessedEvent.source == "teams",
                                                      ProcessedEvent.event_id == activity_id)).first():
                return True
            s.add(ProcessedEvent(source="teams", event_id=activity_id[:200]))
            return False

        try:
            return not self.rt.transaction(seen)
        except Exception:  # a unique-key race: the other request handles it
            log.info("teams: activity %s is being handled already", activity_id)
            return False

    async def _people_in(self, turn_context: TurnContext) -> dict[str, str]:
        """The @mentioned people (other than cxloop), as the `<@id|name>` tokens the commands read."""
        activity = turn_context.activity
        bot_id = activity.recipient.id if activity.recipient else None
        out: dict[str, str] = {}
        for entity in _mentions(activity):
            mid, name, _ = _mention_parts(entity)
            if not mid or mid == bot_id or mid in out:
                continue
            try:
                account = await TeamsInfo.get_member(turn_context, mid)
                tid = teams_user_id(account)
            except Exception:
                log.warning("teams: could not look up the mentioned user %s", mid)
                continue
            if tid:
                shown = name or account.name
                out[mid] = await self._db(lambda s, tid=tid, shown=shown: mention_token(
                    member_by_teams(s, self.rt.workspace, tid, name=shown)))
        return out

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if activity.value and not (activity.text or "").strip():
            # A card submit outside a dialog (an old card, or a client without dialogs): nothing to run.
            log.info("teams: ignoring a card submit outside a dialog from %s", teams_user_id(activity.from_property))
            return
        if not await asyncio.to_thread(self._first_time, activity.id):
            return
        size = len(activity.text or "")
        if size > MAX_COMMAND_TEXT:
            await self._send(turn_context, error_message(
                f"That message is {size:,} characters long; a cxloop command is at most {MAX_COMMAND_TEXT:,}. "
                "Try `cx help`."))
            return
        people = await self._people_in(turn_context)
        line = await asyncio.to_thread(command_line, activity, people)
        ws, now = self.rt.workspace, self.rt.now()
        kind = activity.conversation.conversation_type if activity.conversation else None
        shared = kind != "personal"  # a channel or group chat: everyone in it reads the answer

        def run(s: Session) -> Message:
            actor = actor_of(s, ws, activity.from_property)
            reply = commands.dispatch(s, ws, actor, line, now=now)
            if (line.split() or ["help"])[0].lower() == "help":
                reply = commands.Reply(_help_message(reply))
            asker = actor.member.teams_user_id
            reachable = bool(shared and reply.private and asker and conversations.personal(s, asker))
            routed = commands.route_reply(reply, shared=shared, asker_reachable=reachable)
            if routed.to_asker is not None:
                # Queued with the command's own transaction: stored once, delivered by the outbox.
                enqueue(s, key=f"teams:answer:{activity.id or uuid.uuid4().hex}"[:200], platform="teams",
                        action="dm", target=asker, message=routed.to_asker)  # type: ignore[arg-type]
            return routed.here

        try:
            msg = await self._db(run)
        except CxError as exc:
            msg = error_message(str(exc))
        await self._send(turn_context, msg)

    # --- card buttons and dialogs --------------------------------------------------------

    def _context(self, s: Session, activity: Activity):  # type: ignore[no-untyped-def]
        actor = actor_of(s, self.rt.workspace, activity.from_property)
        return actor, _zone(activity, actor.member, self.rt.workspace.zone)

    def _respond(self, outcome: Outcome, zone: ZoneInfo, *, closing: bool) -> TaskModuleResponse | None:
        if isinstance(outcome, Form):
            return _dialog(card_forms.form_card(outcome, zone=zone), outcome.title)
        if isinstance(outcome, Message):
            return _dialog(cards.message_card(outcome), outcome.text, width="large")
        if isinstance(outcome, Done):
            return _say(teams_wording(outcome.text))
        if isinstance(outcome, str):
            return _say(teams_wording(outcome))
        return None if closing else _say("Done.")

    async def on_teams_task_module_fetch(self, turn_context: TurnContext,
                                         task_module_request: TaskModuleRequest) -> TaskModuleResponse:
        activity = turn_context.activity
        data = dict(task_module_request.data or {}) if isinstance(task_module_request.data, dict) else {}
        action_id = str(data.get(cards.ACTION_KEY) or "")
        value = data.get(cards.VALUE_KEY) if isinstance(data.get(cards.VALUE_KEY), dict) else {}
        rt = self.rt

        def work(s: Session) -> tuple[Outcome, ZoneInfo]:
            actor, zone = self._context(s, activity)
            if not action_id:
                return "That button carries no action.", zone
            return interactions.click(s, rt, actor, action_id, value, conversation=activity.conversation.id,
                                      pick=data.get(cards.PICK_KEY), confirm=data.get(cards.CONFIRM_KEY)), zone

        try:
            outcome, zone = await self._db(work)
        except CxError as exc:
            return _say(teams_wording(str(exc)))
        except Exception:
            log.exception("teams: button %s failed", action_id)
            return _say("Something went wrong; it has been logged. Try again in a moment.")
        return self._respond(outcome, zone, closing=False)  # type: ignore[return-value]

    async def _picked(self, turn_context: TurnContext, callback: str, meta: dict[str, Any],
                      data: dict[str, Any]) -> tuple[str, str] | None:
        """(id, name) of someone chosen in the people picker, so a person new to cxloop is named (best effort)."""
        if callback != interactions.PICK_FORM or (meta.get("pick") or {}).get("kind") == "choice":
            return None
        raw = data.get("picked")
        picked = raw.split(",")[0].strip() if isinstance(raw, str) else ""
        if not picked:
            return None
        try:
            name = (await TeamsInfo.get_member(turn_context, picked)).name
        except Exception:
            return None
        return (picked, name) if name else None

    async def on_teams_task_module_submit(self, turn_context: TurnContext,
                                          task_module_request: TaskModuleRequest) -> TaskModuleResponse | None:
        activity = turn_context.activity
        data = dict(task_module_request.data or {}) if isinstance(task_module_request.data, dict) else {}
        callback = str(data.get(cards.FORM_KEY) or "")
        meta = data.get(cards.META_KEY) if isinstance(data.get(cards.META_KEY), dict) else {}
        rt = self.rt
        shown: dict[str, Any] = {}
        picked = await self._picked(turn_context, callback, meta, data)

        def work(s: Session) -> tuple[Outcome, ZoneInfo]:
            actor, zone = self._context(s, activity)
            if picked:
                member_by_teams(s, rt.workspace, picked[0], name=picked[1])
            form = interactions.rebuild(s, rt, callback, meta)
            values = card_forms.form_values(form, data, zone=zone)
            shown.update(form=form, values=values, zone=zone)
            return interactions.submit(s, rt, actor, callback, meta, values,
                                       conversation=activity.conversation.id), zone

        try:
            outcome, zone = await self._db(work)
        except CxError as exc:
            form = shown.get("form")
            if form is None:
                return _say(teams_wording(str(exc)))
            field = exc.field if isinstance(exc, BadInput) else None
            card = card_forms.form_card(form, zone=shown["zone"], values=shown["values"],
                                   error=(field, teams_wording(str(exc))))
            return _dialog(card, form.title)
        except Exception:
            log.exception("teams: form %s failed", callback)
            return _say("Something went wrong; it has been logged. Try again in a moment.")
        return self._respond(outcome, zone, closing=True)
