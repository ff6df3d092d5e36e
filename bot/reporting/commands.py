"""`/cx digest [preview] [TEAM]`: post the weekly digest now, or preview it where only the asker sees it."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlmodel import Session

from bot.chat.messages import (
    Context,
    Message,
    Section,
    plain,
)
from bot.config import Workspace
from bot.console.registry import Reply, closest, command
from bot.errors import BadInput, NotAllowed, NotFound
from bot.machinery.queueing import enqueue
from bot.people.roles import Role
from bot.people.roster import Actor

from bot.reporting.digest import compute_digest
from bot.reporting.jobs import team_targets
from bot.reporting.messages import digest_message
from bot.reporting.weeks import last_full_week, week_label

# --- /cx digest ------------------------------------------------------------------------------


def _teams_for(actor: Actor, ws: Workspace, team: str | None) -> list[str]:
    keys = [t.key for t in ws.teams]
    if team is not None:
        if team not in keys:
            guess = closest(team, keys)
            hint = f" Did you mean `{guess}`?" if guess else f" Teams: {', '.join(keys)}."
            raise NotFound(f"There is no team `{team}`.{hint}")
        if not actor.manages_team(team):
            raise NotAllowed(f"You don't manage the {ws.team(team).title} team; only its managers (or an admin) "
                             "can post or preview its digest.")
        return [team]
    mine = keys if actor.is_admin else [k for k in keys if k in actor.manages]
    if not mine:
        raise NotAllowed("You don't manage any team, so there is no digest to show; an admin can make you a "
                         "team's manager.")
    return mine


def _where(targets: list[tuple[str, str]]) -> str:
    return " and ".join(f"#{target}" if platform == "slack" else "the Teams channel" for platform, target in targets)


@command("digest", "digest [preview] [TEAM]",
         "Last week's digest: post it to the team channel now, or preview it just for you", Role.MANAGER)
def _digest(session: Session, ws: Workspace, actor: Actor, args: list[str], now: datetime) -> Reply:
    words = [a.lower() for a in args]
    preview = "preview" in words
    rest = [w for w in words if w != "preview"]
    if len(rest) > 1:
        raise BadInput("Usage: `/cx digest [preview] [TEAM]`, e.g. `/cx digest preview support`.")
    teams = _teams_for(actor, ws, rest[0] if rest else None)
    start, end = last_full_week(ws, now)
    if preview:
        if len(teams) > 1:
            raise BadInput(f"You manage {', '.join(teams)}; say which one: `/cx digest preview {teams[0]}`.")
        data = compute_digest(session, ws, teams[0], start, end)
        msg = digest_message(data, chart=False)
        note = Context(spans=[plain("Preview: only you can see this. `/cx digest` posts it to the team channel.")])
        # The digest quotes customers: a preview is for the asker's eyes only (never a shared place).
        return Reply(Message(text=f"Preview: {msg.text}", blocks=[*msg.blocks, note]), private=True)
    week = week_label(ws, start)
    stamp = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    done: list[str] = []
    missing: list[str] = []
    for key in teams:
        title = ws.team(key).title
        targets = team_targets(ws, key)
        if not targets:
            missing.append(key)
            continue
        msg = digest_message(compute_digest(session, ws, key, start, end))
        for platform, target in targets:
            # Its own key (not the scheduled one): posting now never uses up the scheduled digest,
            # and it can be posted again on demand.
            enqueue(session, key=f"{platform}:digest:{key}:{week}:now:{stamp}:{actor.id}", platform=platform,
                    action="post", target=target, message=msg)
        done.append(f"Posted the {title} digest to {_where(targets)}.")
    if not done:
        only = missing[0]
        raise BadInput(f"The {ws.team(only).title} team has no channel yet: "
                       f"`/cx team channel #channel {only}` sets one." if len(missing) == 1 else
                       "None of your teams has a channel yet: `/cx team channel #channel TEAM` sets one.")
    lines = done + [f"{ws.team(k).title} has no channel, so nothing was posted for it." for k in missing]
    return Reply(Message(text=done[0], blocks=[Section(spans=[plain("\n".join(lines))])]))
