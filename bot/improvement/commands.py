"""`/cx huddle [TEAM]` and `/cx improve [new [TEAM] | N]`."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlmodel import Session, select

from bot.chat.messages import Actions, Block, Button, Context, Divider, Header, Mention, Message, Section, Span, bold, plain
from bot.config import Workspace
from bot.console.registry import Reply, closest, command
from bot.errors import BadInput, NotAllowed, NotFound
from bot.improvement import messages as im
from bot.improvement import notify
from bot.improvement import service as imps
from bot.improvement.enums import ImproveAction, Stage
from bot.improvement.huddle import compute_huddle, week_key
from bot.improvement.huddle_messages import huddle_message
from bot.improvement.jobs import huddle_key
from bot.machinery.queueing import enqueue
from bot.people.roles import Role
from bot.people.roster import Actor, person_ref, visible_teams
from storage.models import Improvement, ImprovementEvent, Member

LIST_LIMIT = 30
HISTORY = 20


def _team_named(ws: Workspace, team: str) -> str:
    keys = [t.key for t in ws.teams]
    if team not in keys:
        guess = closest(team, keys)
        hint = f" Did you mean `{guess}`?" if guess else f" Teams: {', '.join(keys)}."
        raise NotFound(f"There is no team `{team}`.{hint}")
    return team


def _where(targets: list[tuple[str, str]]) -> str:
    return " and ".join(f"#{t}" if p == "slack" else "the Teams channel" for p, t in targets)


@command("huddle", "huddle [TEAM]", "Post this week's huddle (what keeps going wrong) to the team channel now",
         Role.MANAGER)
def _huddle(session: Session, ws: Workspace, actor: Actor, args: list[str], now: datetime) -> Reply:
    if len(args) > 1:
        raise BadInput("Usage: `/cx huddle [TEAM]`, e.g. `/cx huddle support`.")
    if args:
        team = _team_named(ws, args[0].lower())
        if not actor.manages_team(team):
            raise NotAllowed(f"You don't manage the {ws.team(team).title} team; only its managers (or an admin) "
                             "can post its huddle.")
        teams = [team]
    else:
        teams = [t.key for t in ws.teams if actor.manages_team(t.key)]
        if not teams:
            raise NotAllowed("You don't manage any team, so there is no huddle to post.")
    stamp = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    done, missing = [], []
    for team in teams:
        targets = notify.team_channels(ws, team)
        if not targets:
            missing.append(team)
            continue
        # Its own key, not the scheduled one: posting now never uses up this week's scheduled huddle.
        post = f"{huddle_key(team, week_key(ws, now))}:now:{stamp}:{actor.id}"
        msg = huddle_message(compute_huddle(session, ws, team, now), post=post)
        for platform, target in targets:
            enqueue(session, key=f"{platform}:{post}", platform=platform, action="post", target=target, message=msg)
        done.append(f"Posted the {ws.team(team).title} huddle to {_where(targets)}.")
    if not done:
        raise BadInput("None of those teams has a channel yet: `/cx team channel #channel TEAM` sets one.")
    lines = done + [f"{ws.team(k).title} has no channel, so nothing was posted for it." for k in missing]
    return Reply(Message(text=done[0], blocks=[Section(spans=[plain("\n".join(lines))])]))


def _list(session: Session, ws: Workspace, actor: Actor) -> Reply:
    teams = visible_teams(actor, ws)
    rows = list(session.exec(select(Improvement).where(
        Improvement.team.in_(teams), Improvement.stage.in_([s.value for s in Stage if s.is_open]))  # type: ignore[attr-defined]
        .order_by(Improvement.id))) if teams else []
    if not rows:
        text = ("No improvements under way in your teams. `/cx improve new` starts one; the weekly huddle shows "
                "what keeps going wrong.")
        return Reply(Message(text=text, blocks=[Section(spans=[plain(text)])]))
    blocks: list[Block] = [Header(text=f"Improvements under way ({len(rows)})")]
    for imp in rows[:LIST_LIMIT]:
        blocks.append(Section(spans=im.summary_line(imps.load_view(session, ws, imp.id))))  # type: ignore[arg-type]
    if len(rows) > LIST_LIMIT:
        blocks.append(Context(spans=[plain(f"…and {len(rows) - LIST_LIMIT} more: `cxloop improvements` lists them all.")]))
    blocks.append(Context(spans=[plain("`/cx improve N` shows one whole; `/cx improve new` starts one.")]))
    return Reply(Message(text=f"{len(rows)} improvement(s) under way", blocks=blocks))


def _new(ws: Workspace, actor: Actor, args: list[str]) -> Reply:
    if len(args) > 1:
        raise BadInput("Usage: `/cx improve new [TEAM]`.")
    if args:
        team = _team_named(ws, args[0].lower())
    else:
        mine = [t.key for t in ws.teams if actor.in_team(t.key)] if not actor.is_admin else []
        if len(mine) != 1:
            keys = mine or [t.key for t in ws.teams]
            raise BadInput(f"Say which team: `/cx improve new {keys[0]}` (teams: {', '.join(keys)}).")
        team = mine[0]
    imps.require_team(actor, ws, team, "start an improvement for it")
    text = f"Start an improvement for {ws.team(team).title}: the form asks for the problem, the segment, the metric " \
           "and a SMART target (a number and a date). cxloop computes the baseline."
    return Reply(Message(text=text, blocks=[Section(spans=[plain(text)]), Actions(elements=[
        Button(action=ImproveAction.START.value, label="Open the form", value={"team": team}, style="primary")])]))


def _one(session: Session, ws: Workspace, actor: Actor, token: str, now: datetime) -> Reply:
    imp_id = imps.number(token, usage="Give the improvement's number, for example `/cx improve 4`.")
    view = imps.load_view(session, ws, imp_id)
    if not (actor.in_team(view.imp.team) or actor.is_admin):
        raise NotAllowed(f"Improvement #{imp_id} belongs to the {view.imp.team} team; only its members and "
                         "managers can see it.")
    msg = notify.card(session, ws, view, now)
    blocks: list[Block] = [*msg.blocks, Divider()]
    events = list(session.exec(select(ImprovementEvent).where(ImprovementEvent.improvement_id == imp_id)
                               .order_by(ImprovementEvent.id.desc()).limit(HISTORY)))  # type: ignore[union-attr]
    lines: list[Span] = []
    for ev in reversed(events):
        who = session.get(Member, ev.actor_id) if ev.actor_id else None
        lines += [im.when(ev.at), plain(" "), *([Mention(person=person_ref(who)), plain(" ")] if who else []),
                  plain(_event_words(ev)), plain("\n")]
    blocks.append(Section(spans=[bold("History\n"), *lines]))
    return Reply(Message(text=f"Improvement #{imp_id}", blocks=blocks))


def _event_words(ev: ImprovementEvent) -> str:
    d = ev.detail or {}
    if ev.kind == "stage":
        return f"moved it from {Stage(d['from']).label} to {Stage(d['to']).label}" + (f": {d['note']}" if d.get("note") else "")
    if ev.kind in ("check_in", "revisit", "target_met", "target_missed"):
        value = d.get("value")
        return f"{ev.kind.replace('_', ' ')}: {'—' if value is None else value} from {d.get('n', 0)} answers"
    if ev.kind in ("action_added", "action_done", "action_snoozed"):
        return f"{ev.kind.replace('action_', 'action ').replace('_', ' ')}: {d.get('title', '')}".replace(
            "action done", "ticked").replace("action added", "added an action").replace("action snoozed", "snoozed")
    return ev.kind.replace("_", " ")


@command("improve", "improve [new [TEAM] | N]",
         "Improvements under way; `new` starts one, `N` shows one whole (stages, plan, figures, history)")
def _improve(session: Session, ws: Workspace, actor: Actor, args: list[str], now: datetime) -> Reply:
    if not args:
        return _list(session, ws, actor)
    if args[0].lower() == "new":
        return _new(ws, actor, args[1:])
    if len(args) == 1:
        return _one(session, ws, actor, args[0], now)
    raise BadInput("Usage: `/cx improve`, `/cx improve new [TEAM]` or `/cx improve N`.")
