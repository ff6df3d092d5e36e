"""Managers' `/cx` subcommands: queues, assignment, scores, team set-up and roles."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, true
from sqlmodel import Session, select

from bot.cases import service as cases
from bot.chat import mentions
from bot.assist.store import theme_scores
from bot.console.registry import Reply, case_lines, command
from bot.config import Workspace, format_duration, parse_duration
from bot.errors import BadInput, NotAllowed, NotFound
from bot.chat.messages import (
    Actions,
    Block,
    Button,
    Context,
    Fields,
    FieldItem,
    Header,
    Mention,
    Message,
    Section,
    Span,
    bold,
    plain,
)
from bot.cases.notify import publish_change
from bot.cases.resolved import CaseStatus
from bot.people.roles import Role
from bot.people.roster import Actor, member_by_id, person_ref
from bot.reporting.scores import ScoreGroup, compute_scores, delta
from bot.people.teams import create_team, describe, set_membership, set_role, set_team_field
from storage.models import AuditEntry, Case, Member, TeamMembership, TeamSetting

PAGE = 15
PAGE_ACTION = "cx_page"


# --- arguments -------------------------------------------------------------------------------


def resolve_person(session: Session, token: str, *, what: str = "person") -> Member:
    """A mentioned person (a member token, bot/chat/mentions.py) as a member."""
    member_id = mentions.person_id(token)
    if member_id is None:
        raise BadInput(f"{mentions.readable(token, lambda _: None)!r} is not a mention; pick the {what} with @ "
                       f"so it turns into a mention.")
    return member_by_id(session, member_id)


def _page_arg(args: list[str]) -> tuple[list[str], int]:
    if len(args) >= 2 and args[-2].lower() == "page":
        if not args[-1].isdigit() or int(args[-1]) < 1:
            raise BadInput(f"`page {args[-1]}`: the page must be a number from 1.")
        return args[:-2], int(args[-1])
    return args, 1


def _teams_for(actor: Actor, ws: Workspace, team: str | None) -> list[str]:
    keys = [t.key for t in ws.teams]
    if team is not None:
        if team not in keys:
            raise NotFound(f"There is no team {team!r}; teams: {', '.join(keys)}.")
        if not actor.manages_team(team):
            raise NotAllowed(f"You don't manage the {team} team; only its managers (or an admin) can see its queue.")
        return [team]
    mine = keys if actor.is_admin else sorted(actor.manages)
    if not mine:
        raise NotAllowed("You don't manage any team yet; an admin can add you with `/cx team add @you TEAM`.")
    return mine


def _one_team(actor: Actor, ws: Workspace, team: str | None, usage: str) -> str:
    if team is not None:
        return _teams_for(actor, ws, team)[0]
    mine = sorted(actor.manages) if not actor.is_admin else [t.key for t in ws.teams]
    if len(mine) == 1:
        return mine[0]
    if not mine:
        raise NotAllowed("You don't manage any team.")
    raise BadInput(f"You manage {', '.join(mine)}; say which team: `/cx {usage} TEAM`.")


def paged(title: str, lines: list[list[Span]], page: int, again: str, *, empty: str, private: bool = False
          ) -> Reply:
    """A list split into pages that each fit in one message; never cut silently. `private`: the lines show cases."""
    if not lines:
        return Reply(Message(text=empty, blocks=[Section(spans=[plain(empty)])]))
    pages = (len(lines) + PAGE - 1) // PAGE
    if page > pages:
        raise BadInput(f"There {'is' if pages == 1 else 'are'} only {pages} page{'s' if pages > 1 else ''}.")
    chunk = lines[(page - 1) * PAGE: page * PAGE]
    blocks: list[Block] = [Header(text=f"{title} ({len(lines)})")]
    blocks += [Section(spans=ln) for ln in chunk]
    if pages > 1:
        blocks.append(Context(spans=[plain(f"Page {page} of {pages}." + (f" Next: `/cx {again} page {page + 1}`"
                                                                         if page < pages else ""))]))
        if page < pages:
            blocks.append(Actions(elements=[Button(action=PAGE_ACTION, label=f"Next page ({page + 1} of {pages})",
                                                   value={"cmd": again, "page": page + 1})]))
    return Reply(Message(text=f"{title}: {len(lines)}", blocks=blocks), private=private)


# --- queues ----------------------------------------------------------------------------------


@command("open", "open [TEAM]", "The team's open cases, oldest due first", Role.MANAGER,
         reads=True)
def _open(session: Session, ws: Workspace, actor: Actor, args: list[str], now: datetime) -> Reply:
    args, page = _page_arg(args)
    if len(args) > 1:
        raise BadInput("Usage: `/cx open [TEAM]`, e.g. `/cx open support`.")
    teams = _teams_for(actor, ws, args[0] if args else None)
    rows = session.exec(select(Case).where(Case.team.in_(teams), Case.status.in_(
        [CaseStatus.OPEN.value, CaseStatus.IN_PROGRESS.value, CaseStatus.RESOLVED.value]))
        .order_by(Case.resolve_due_at, Case.id)).all()
    lines = [line + [plain(" · "), *([Mention(person=person_ref(session.get(Member, c.owner_id)))]
                                     if c.owner_id else [plain("unclaimed")])]
             for c, line in zip(rows, case_lines(session, ws, list(rows)))]
    label = ", ".join(teams)
    return paged(f"Open cases — {label}", lines, page, "open" + (f" {args[0]}" if args else ""),
                 empty=f"No open cases in {label}. 🎉", private=True)


def overdue_filter(now: datetime) -> Any:
    return or_(and_(Case.first_response_at.is_(None), Case.respond_due_at <= now),
               and_(Case.status != CaseStatus.RESOLVED.value, Case.resolve_due_at <= now))


@command("overdue", "overdue", "Cases past a due time in the teams you manage", Role.MANAGER,
         reads=True)
def _overdue(session: Session, ws: Workspace, actor: Actor, args: list[str], now: datetime) -> Reply:
    args, page = _page_arg(args)
    teams = _teams_for(actor, ws, args[0] if args else None)
    rows = session.exec(select(Case).where(Case.team.in_(teams), Case.status.in_(
        [CaseStatus.OPEN.value, CaseStatus.IN_PROGRESS.value]), overdue_filter(now)).order_by(Case.respond_due_at)).all()
    lines = []
    for c, line in zip(rows, case_lines(session, ws, list(rows))):
        late = c.respond_due_at if c.first_response_at is None else c.resolve_due_at
        what = "first response" if c.first_response_at is None else "resolution"
        assert late is not None
        lines.append(line[:2] + [plain(f" · {what} overdue by "
                                                             f"{format_duration(timedelta(minutes=int((now - late).total_seconds() // 60)) or timedelta(minutes=1))}")])
    return paged("Overdue cases", lines, page, "overdue" + (f" {args[0]}" if args else ""),
                 empty="Nothing is overdue. 🎉", private=True)


@command("assign", "assign ID @user [reason]", "Give a case to someone (a reason when reassigning)", Role.MANAGER)
def _assign(session: Session, ws: Workspace, actor: Actor, args: list[str], now: datetime) -> Reply:
    usage = "Usage: `/cx assign ID @user [reason]`, e.g. `/cx assign 42 @bob Bob knows this customer`."
    if len(args) < 2:
        raise BadInput(usage)
    cid = cases.case_number(args[0], usage=usage)
    assignee = resolve_person(session, args[1])
    ev = cases.assign(session, actor, cid, assignee, reason=" ".join(args[2:]) or None, now=now)
    publish_change(session, ws, cases.get_case(session, cid), ev)
    return Reply(Message(text=f"Case #{cid} assigned", blocks=[Section(spans=[
        plain(f"Case #{cid} is now with "), Mention(person=person_ref(assignee)), plain(".")])]))


# --- scores ----------------------------------------------------------------------------------

PERIODS = {"7d": 7, "30d": 30, "90d": 90, "quarter": None}


def _quarter_start(now: datetime, ws: Workspace) -> datetime:
    local = now.astimezone(ws.zone)
    month = 3 * ((local.month - 1) // 3) + 1
    return local.replace(month=month, day=1, hour=0, minute=0, second=0, microsecond=0)


def _fmt(v: float | int | None, pct: bool) -> str:
    if v is None:
        return "no responses"
    return f"{v}%" if pct else f"{v:+.1f}"


def _change(now_v: float | int | None, before: float | int | None) -> str:
    d = delta(now_v, before)
    return "" if d is None else f" ({'+' if d >= 0 else ''}{d:g} vs previous)"


@command("scores", "scores [7d|30d|90d|quarter] [by team|touchpoint|theme]", "NPS, CSAT and CES, with the change",
         Role.MANAGER)
def _scores(session: Session, ws: Workspace, actor: Actor, args: list[str], now: datetime) -> Reply:
    period, by = "7d", None
    rest = [a.lower() for a in args]
    if rest and rest[0] in PERIODS:
        period = rest.pop(0)
    elif rest and rest[0] != "by":
        raise BadInput(f"`{args[0]}` is not a period; use 7d, 30d, 90d or quarter.")
    if rest:
        if len(rest) != 2 or rest[0] != "by" or rest[1] not in ("team", "touchpoint", "theme"):
            raise BadInput("Group with `by team` or `by touchpoint` (or `by theme`), e.g. `/cx scores 30d by team`.")
        by = rest[1]
    if PERIODS[period] is None:
        since = _quarter_start(now, ws)
        span = now - since
        label = f"this quarter so far (since {since:%d %b})"
    else:
        span = timedelta(days=PERIODS[period])  # type: ignore[arg-type]
        since = now - span
        label = f"the last {PERIODS[period]} days"
    engine = session.get_bind()
    # A manager sees the answers of the teams they manage (whichever the grouping); an admin sees all.
    teams = None if actor.is_admin else _teams_for(actor, ws, None)
    if by == "theme":
        # An answer counts under each of its comment's themes; answers without a comment are left out.
        current = theme_scores(engine, since=since, until=now, teams=teams)  # type: ignore[arg-type]
        previous = {g.key: g for g in theme_scores(engine, since=since - span, until=since, teams=teams)}  # type: ignore[arg-type]
    else:
        current = compute_scores(engine, since=since, until=now, by=by, teams=teams)  # type: ignore[arg-type]
        previous = {g.key: g for g in compute_scores(engine, since=since - span, until=since, by=by,  # type: ignore[arg-type]
                                                     teams=teams)}
    if by == "team" and teams is not None:
        # Every team managed is listed, with or without answers.
        have = {g.key for g in current}
        current = sorted([*current, *(ScoreGroup(key=t) for t in teams if t not in have)], key=lambda g: g.key)
    scope = "" if teams is None else f" — {', '.join(teams)}"
    blocks: list[Block] = [Header(text=f"Scores for {label}{scope}")]
    if not any(g.responses for g in current):
        blocks.append(Section(spans=[plain("No survey answers in this period.")]))
    for g in current:
        p = previous.get(g.key, ScoreGroup(key=g.key))
        title = g.key if by else "All answers"
        blocks.append(Fields(items=[
            FieldItem(label=f"{title} · NPS ({g.nps.responses})",
                      value=[plain(_fmt(g.nps.score, False) + _change(g.nps.score, p.nps.score))]),
            FieldItem(label=f"CSAT ({g.csat.responses})",
                      value=[plain(_fmt(g.csat.score, True) + _change(g.csat.score, p.csat.score))]),
            FieldItem(label=f"CES ({g.ces.responses})",
                      value=[plain(_fmt(g.ces.score, True) + _change(g.ces.score, p.ces.score))]),
        ]))
    note = "Compared with the period of the same length just before."
    if by == "theme":
        note += " By theme: each answer with a comment counts under each of its themes."
    blocks.append(Context(spans=[plain(note)]))
    return Reply(Message(text=f"Scores for {label}", blocks=blocks[:48]))


# --- team set-up -----------------------------------------------------------------------------

TEAM_USAGE = ("team — show the set-up | team add @user [TEAM] | team remove @user [TEAM] | team channel #channel [TEAM] | "
              "team sla respond 8h resolve 3d [TEAM] | team touchpoints a,b,c [TEAM] | team create KEY [NAME] (admins) | "
              "team audit [TEAM]")


def _show_team(session: Session, ws: Workspace, key: str) -> list[Block]:
    t = ws.team(key)
    overrides = {r.field: r for r in session.exec(select(TeamSetting).where(TeamSetting.team == key))}
    members = session.exec(select(Member, TeamMembership.is_manager).join(
        TeamMembership, TeamMembership.member_id == Member.id).where(
        TeamMembership.team == key, TeamMembership.removed == False).order_by(Member.id)).all()  # noqa: E712
    sla = ws.sla_for(key)

    def src(field: str) -> str:
        r = overrides.get(field)
        return f" (set in chat {r.updated_at:%d %b})" if r else ""

    items = [
        FieldItem(label="Channel", value=[plain((f"#{t.slack_channel}" if t.slack_channel else "none") + src("slack_channel"))]),
        FieldItem(label="Touchpoints", value=[plain((", ".join(t.touchpoints) or "none") + src("touchpoints"))]),
        FieldItem(label="SLA", value=[plain(f"respond within {format_duration(sla.respond_within)}, resolve within "
                                            f"{format_duration(sla.resolve_within)}{src('sla')}")]),
        FieldItem(label="Default team", value=[plain("yes" if ws.default_team == key else "no")]),
    ]
    mgrs: list[Span] = []
    mems: list[Span] = []
    for m, is_mgr in members:
        (mgrs if is_mgr else mems).extend([Mention(person=person_ref(m)), plain(" ")])
    return [Header(text=f"Team {t.title} ({key})"), Fields(items=items),
            Section(spans=[bold("Managers: "), *(mgrs or [plain("none")])]),
            Section(spans=[bold("Members: "), *(mems or [plain("none")])])]


def _channel_arg(token: str) -> str:
    found = mentions.channel_of(token)
    if found is None or found[0] != "slack":
        raise BadInput(f"{mentions.readable(token, lambda _: None)!r} is not a Slack channel; pick it with # so it "
                       f"turns into a channel link.")
    return found[1]


@command("team", "team …", "Show or change a team's set-up (managers)", Role.MANAGER)
def _team(session: Session, ws: Workspace, actor: Actor, args: list[str], now: datetime) -> Reply:
    # Chat changes are applied idempotently, so the effective workspace serves as the base.
    base = ws
    if not args:
        blocks: list[Block] = []
        for key in _teams_for(actor, ws, None):
            blocks += _show_team(session, ws, key)
        return Reply(Message(text="Team set-up", blocks=blocks[:48]))
    sub, rest = args[0].lower(), args[1:]
    if sub in ("add", "remove"):
        if not rest:
            raise BadInput(f"Usage: `/cx team {sub} @user [TEAM]`.")
        who = resolve_person(session, rest[0])
        team = _one_team(actor, ws, rest[1] if len(rest) > 1 else None, f"team {sub} @user")
        set_membership(session, ws, actor, team, who, add=sub == "add", now=now)
        return _done(f"{'Added' if sub == 'add' else 'Removed'} ", who, f" {'to' if sub == 'add' else 'from'} the {team} team.")
    if sub == "channel":
        if not rest:
            raise BadInput("Usage: `/cx team channel #channel [TEAM]`.")
        channel = _channel_arg(rest[0])
        team = _one_team(actor, ws, rest[1] if len(rest) > 1 else None, "team channel #channel")
        old, new = set_team_field(session, base, actor, team, "slack_channel", channel, now=now)
        return _text(f"The {team} team's alerts now go to #{new} (was {describe('slack_channel', old)}).")
    if sub == "sla":
        values: dict[str, str] = {}
        i = 0
        team_arg = None
        while i < len(rest):
            word = rest[i].lower()
            if word in ("respond", "resolve") and i + 1 < len(rest):
                try:
                    d = parse_duration(rest[i + 1])
                except ValueError as exc:
                    raise BadInput(f"`{rest[i + 1]}` for {word}: {exc}") from None
                if d <= timedelta(0):
                    raise BadInput(f"The {word} time must be longer than zero.")
                values[f"{word}_within"] = format_duration(d)
                i += 2
            elif i == len(rest) - 1 and word not in ("respond", "resolve"):
                team_arg = rest[i]
                i += 1
            else:
                raise BadInput("Usage: `/cx team sla respond 8h resolve 3d [TEAM]` (either or both).")
        if not values:
            raise BadInput("Say what to change: `/cx team sla respond 8h resolve 3d [TEAM]`.")
        team = _one_team(actor, ws, team_arg, "team sla respond 8h resolve 3d")
        sla = ws.sla_for(team)
        respond = parse_duration(values.get("respond_within", sla.respond_within))
        resolve = parse_duration(values.get("resolve_within", sla.resolve_within))
        if respond > resolve:
            raise BadInput(f"Responding ({format_duration(respond)}) can't take longer than resolving "
                           f"({format_duration(resolve)}).")
        old, new = set_team_field(session, base, actor, team, "sla", values, now=now)
        return _text(f"The {team} team's SLA is now {describe('sla', new)} (was {describe('sla', old)}). "
                     "New cases get the new due times.")
    if sub == "touchpoints":
        if not rest:
            raise BadInput("Usage: `/cx team touchpoints a,b,c [TEAM]`.")
        tps = [t.strip().lower() for t in rest[0].split(",") if t.strip()]
        if not tps or any(not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", t) for t in tps):
            raise BadInput("Touchpoints are comma-separated words such as `phone,chat,email`.")
        team = _one_team(actor, ws, rest[1] if len(rest) > 1 else None, "team touchpoints a,b,c")
        old, new = set_team_field(session, base, actor, team, "touchpoints", tps, now=now)
        return _text(f"The {team} team now owns {describe('touchpoints', new)} (was {describe('touchpoints', old)}).")
    if sub == "create":
        if not rest:
            raise BadInput("Usage: `/cx team create KEY [NAME]`, e.g. `/cx team create returns Returns desk`.")
        create_team(session, base, actor, rest[0].lower(), " ".join(rest[1:]) or None, now=now)
        return _text(f"Created the {rest[0].lower()} team. Next: `/cx team channel #channel {rest[0].lower()}` and "
                     f"`/cx team add @user {rest[0].lower()}`.")
    if sub == "audit":
        rest, page = _page_arg(rest)
        if len(rest) > 1:
            raise BadInput("Usage: `/cx team audit [TEAM]`.")
        if actor.is_admin and not rest:
            # An admin's whole workspace: every team's changes and the role changes.
            team, where = "every team", true()
        else:
            team = _one_team(actor, ws, rest[0] if rest else None, "team audit")
            # Role changes are workspace-wide: only admins see them, beside the team's own changes.
            where = or_(AuditEntry.target == team, AuditEntry.action == "role") if actor.is_admin else (
                AuditEntry.target == team)
        rows = session.exec(select(AuditEntry).where(where).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                            .limit(30)).all()
        lines = []
        for r in rows:
            who = session.get(Member, r.actor_id) if r.actor_id else None
            lines.append([plain(f"{r.at:%d %b %H:%M} "), *([Mention(person=person_ref(who))] if who else [plain("system")]),
                          plain(f" {r.action} {r.target}: {_short(r.old)} → {_short(r.new)}")])
        return paged(f"Changes to {team}", lines, page, "team audit" + (f" {rest[0]}" if rest else ""),
                     empty=f"No changes to {team} made in chat.")
    from bot.console.registry import closest

    guess = closest(sub, ["add", "remove", "channel", "sla", "touchpoints", "create", "audit"])
    raise BadInput(f"`team {sub}` is not a team command." + (f" Did you mean `/cx team {guess}`?" if guess else "")
                   + f" Usage: {TEAM_USAGE}")


def _short(v: Any) -> str:
    if v is None:
        return "—"
    s = v if isinstance(v, str) else (", ".join(map(str, v)) if isinstance(v, list) else str(v))
    return s[:80]


@command("role", "role @user admin|manager|agent", "Give someone a role", Role.ADMIN)
def _role(session: Session, ws: Workspace, actor: Actor, args: list[str], now: datetime) -> Reply:
    if len(args) != 2:
        raise BadInput("Usage: `/cx role @user admin|manager|agent`.")
    who = resolve_person(session, args[0])
    try:
        role = Role(args[1].lower())
    except ValueError:
        raise BadInput(f"`{args[1]}` is not a role; use admin, manager or agent.") from None
    old = set_role(session, actor, who, role, now=now)
    return _done("", who, f" is now {role.value} (was {old.value}).")


def _done(before: str, who: Member, after: str) -> Reply:
    return Reply(Message(text=f"{before}{who.name or ''}{after}".strip(),
                         blocks=[Section(spans=[plain(before), Mention(person=person_ref(who)), plain(after)])]))


def _text(line: str) -> Reply:
    return Reply(Message(text=line, blocks=[Section(spans=[plain(line)])]))
