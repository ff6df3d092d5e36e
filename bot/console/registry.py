"""`/cx` subcommands (Slack) and `cx …` (Teams): parsed and answered here, once, for both."""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from bot.cases import messages as cm
from bot.cases.service import case_number, history, load_view, load_views
from bot.config import Workspace
from bot.errors import BadInput, NotAllowed
from bot.chat.messages import Block, Context, Divider, Header, Mention, Message, Section, Span, bold, plain
from bot.cases.resolved import CaseStatus
from bot.people.roles import Role
from bot.followup.views import follow_up_blocks, my_follow_ups
from bot.people.roster import Actor
from storage.models import Case


@dataclass(frozen=True)
class Reply:
    message: Message
    public: bool = False
    # Customer details or someone's own cases: shown only where the asker alone can read it (`route_reply`).
    private: bool = False


@dataclass(frozen=True)
class Routed:
    """Where a command's answer goes: `here` where it was typed, `to_asker` (if any) to the asker alone."""

    here: Message
    to_asker: Message | None = None


POINTER = "📬 I've sent you the answer in our personal chat: it shows customer details, so not here."
NO_PRIVATE_CHAT = ("That answer shows customer details, so I give it only in our personal chat, and we have none "
                   "yet. Open cxloop as a personal app (or message me directly), then ask there.")


def route_reply(reply: Reply, *, shared: bool, asker_reachable: bool) -> Routed:
    """Keep customer data where only the asker reads it.

    `shared`: the command was typed where others read the answer (a Teams channel or group chat;
    Slack's `/cx` answers are ephemeral, so never). A private answer then goes to the asker's
    personal chat, with a pointer where they asked, or is refused when no personal chat is known.
    """
    if not shared or not reply.private:
        return Routed(here=reply.message)
    if not asker_reachable:
        return Routed(here=Message(text=NO_PRIVATE_CHAT, blocks=[Section(spans=[plain(NO_PRIVATE_CHAT)])]))
    return Routed(here=Message(text=POINTER, blocks=[Section(spans=[plain(POINTER)])]), to_asker=reply.message)


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    summary: str
    role: Role
    run: Callable[[Session, Workspace, Actor, list[str], datetime], Reply]
    raw: bool = False  # free text: the handler gets the rest of the line untouched, as one argument
    reads: bool = False  # only reads: run without the write lock (bot/machinery/runtime.py `Runtime.reading`)


REGISTRY: dict[str, Command] = {}


def load_extensions() -> None:
    """Every module with `/cx` subcommands, as bot/wiring.py names them."""
    from bot import wiring

    wiring.load()


def command(name: str, usage: str, summary: str, role: Role = Role.AGENT, *, raw: bool = False,  # type: ignore[no-untyped-def]
            reads: bool = False):
    def wrap(fn: Callable[[Session, Workspace, Actor, list[str], datetime], Reply]):  # type: ignore[no-untyped-def]
        REGISTRY[name] = Command(name=name, usage=usage, summary=summary, role=role, run=fn, raw=raw, reads=reads)
        return fn
    return wrap


def reads_only(text: str) -> bool:
    """Whether the command line `text` names a command that only reads (an unknown one is answered
    with an error, which reads too)."""
    load_extensions()
    head, _ = _head(text)
    cmd = REGISTRY.get(head)
    return cmd is None or cmd.reads


def _head(text: str) -> tuple[str, list[str]]:
    """The command's name (lower-cased; `help` for an empty line) and the rest of the line, untouched."""
    head, *rest = text.strip().split(None, 1) or ["help"]
    return head.lower(), rest


def _text(*lines: str) -> Reply:
    return Reply(Message(text=lines[0], blocks=[Section(spans=[plain("\n".join(lines))])]))


def closest(word: str, options: list[str]) -> str | None:
    match = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return match[0] if match else None


def dispatch(session: Session, ws: Workspace, actor: Actor, text: str, *, now: datetime) -> Reply:
    """Run one command line such as `case 42` for `actor`."""
    load_extensions()
    head, rest = _head(text)
    cmd = REGISTRY.get(head)
    if cmd is not None and cmd.raw:
        # Free text (kudos): apostrophes and quotes are words, not shell quoting.
        name, args = head, [r.strip() for r in rest if r.strip()]
    else:
        try:
            words = shlex.split(text.strip())
        except ValueError:
            raise BadInput("That command has an unmatched quote; check the quotes and try again.") from None
        if not words:
            words = ["help"]
        name, args = words[0].lower(), words[1:]
        cmd = REGISTRY.get(name)
    if cmd is None:
        guess = closest(name, [c for c in REGISTRY if _allowed(actor, REGISTRY[c])] or list(REGISTRY))
        hint = f" Did you mean `/cx {REGISTRY[guess].usage}`?" if guess else ""
        raise BadInput(f"`{name}` is not a cxloop command.{hint} Try `/cx help` for the list.")
    if not _allowed(actor, cmd):
        raise NotAllowed(f"`/cx {cmd.name}` needs the {cmd.role.value} role; you are {_a(actor.role.value)}.")
    return cmd.run(session, ws, actor, args, now)


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _allowed(actor: Actor, cmd: Command) -> bool:
    return actor.role.rank >= cmd.role.rank


@command("help", "help", "What you can do with cxloop", reads=True)
def _help(session: Session, ws: Workspace, actor: Actor, args: list[str], now: datetime) -> Reply:
    lines = [f"/cx {c.usage} — {c.summary}" for c in REGISTRY.values() if _allowed(actor, c)]
    return Reply(Message(text="cxloop commands", blocks=[
        Header(text="cxloop commands"), Section(spans=[plain("\n".join(lines))]),
        Context(spans=[plain(f"You are {_a(actor.role.value)}.")])]))


def case_lines(session: Session, ws: Workspace, cases: list[Case]) -> list[list[Span]]:
    """One line per case (number, score, status, next step, due), the cases loaded in three queries."""
    views = load_views(session, ws, [c.id for c in cases])  # type: ignore[misc]
    return [_line(views[c.id]) for c in cases]  # type: ignore[index]


def _line(view: cm.CaseView) -> list[Span]:
    case, r = view.case, view.response
    spans: list[Span] = [bold(f"#{case.id}"), plain(f" {cm.survey_label(r.survey, r.score)} · {view.status.label}")]
    nxt = view.next_step
    if nxt and view.status.is_active:
        spans.append(plain(f" · next: {nxt.number}. {nxt.guide.title}"))
    due = case.respond_due_at if case.first_response_at is None else case.resolve_due_at
    if view.status.is_active and due:
        spans += [plain(" · due "), cm.when(due)]
    return spans


@command("mine", "mine", "Your open cases and follow-ups, with the next step and due time", reads=True)
def _mine(session: Session, ws: Workspace, actor: Actor, args: list[str], now: datetime) -> Reply:
    rows = session.exec(select(Case).where(Case.owner_id == actor.id,
                                           Case.status.in_([CaseStatus.IN_PROGRESS.value, CaseStatus.RESOLVED.value]))
                        .order_by(Case.resolve_due_at)).all()
    follow_ups = my_follow_ups(session, ws, actor)
    if not rows and not follow_ups:
        return _text("You have no open cases. 🎉")
    blocks: list[Block] = [Header(text=f"Your open cases ({len(rows)})")] if rows else []
    blocks += [Section(spans=line) for line in case_lines(session, ws, list(rows[:40]))]
    if len(rows) > 40:
        blocks.append(Context(spans=[plain(f"…and {len(rows) - 40} more: see your App Home.")]))
    blocks += follow_up_blocks(follow_ups, limit=20, more="see your App Home.")
    text = f"You have {len(rows)} open case(s)" + (f" and {len(follow_ups)} follow-up(s)" if follow_ups else "")
    return Reply(Message(text=text, blocks=blocks), private=True)


@command("case", "case ID", "The whole case: response, owner, steps with notes, history", reads=True)
def _case(session: Session, ws: Workspace, actor: Actor, args: list[str], now: datetime) -> Reply:
    usage = "Give the case number, for example `/cx case 42`."
    if len(args) != 1:
        raise BadInput(usage, field="id")
    cid = case_number(args[0], usage=usage)
    view = load_view(session, ws, cid)
    if not (actor.in_team(view.case.team) or view.case.owner_id == actor.id or actor.is_admin):
        raise NotAllowed(f"Case #{cid} belongs to the {view.case.team} team; only its members and managers can see it.")
    from bot.privacy.visibility import sees_contact

    # The answer is private to the asker; the full email only for the owner and the team's managers.
    full = sees_contact(actor, view.case)
    blocks: list[Block] = [*cm.alert_message(view, mask=not full).blocks[:-1], cm.checklist(view), Divider()]
    lines: list[Span] = []
    for ev, who in history(session, cid)[-25:]:
        lines += [cm.when(ev.at), plain(" "), *([Mention(person=who), plain(" ")] if who else []),
                  plain(ev.kind.replace("_", " ")), plain("\n")]
    blocks.append(Section(spans=[bold("History\n"), *lines]))
    return Reply(Message(text=f"Case #{cid}", blocks=blocks), private=True)
