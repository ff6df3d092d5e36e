"""Who may do what: every case action and console command, for every role, on both platforms.

The roles, for a case of the support team:
  outsider       someone in the chat workspace the YAML never names
  agent          a member of the support team (not the case's owner)
  owner          Alice, a member of the support team who owns the case
  other_agent    a member of the billing team
  manager        the support team's manager
  other_manager  the billing team's manager
  admin          a workspace admin

Every refusal is checked twice: the person is told why, and nothing changed (the case, its steps
and events, the team set-up, the roles, the outbox). Every permitted action is checked to have
happened, so the table cannot pass by refusing everything.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from bot.cases import service as cases
from bot.chat import mentions
from bot.console import registry as commands
from bot.config import Workspace
from bot.errors import CxError
from bot.nudges.chase import ask_owner_for_update
from bot.intake.store import record_response
from bot.chat.messages import Actions, Button, Message, UserPicker
from bot.cases.notify import publish_change
from bot.cases.resolved import STEPS, ResolvedStep
from bot.people.roster import actor_for, member_by_slack
from bot.intake.surveys import build_response
from handlers.slack import render
from storage.db import session_scope
from storage.models import AuditEntry, Case, CaseEvent, CaseStep, Member, OutboxMessage, TeamMembership
from standins.bot_connector import text_of as teams_text
from tests.harness import CxHarness
from tests.teams_harness import OUTSIDER, PEOPLE, SUPPORT, TeamsHarness, dialog_message

ROLES = {
    "outsider": "U0NOBODY",
    "agent": "U0BOB",
    "owner": "U0ALICE",
    "other_agent": "U0PRIYA",
    "manager": "U0MANAGER",
    "other_manager": "U0MEERA",
    "admin": "U0ADMIN",
}
WORKERS = {"owner", "manager", "admin"}          # may work an owned case
TEAM = {"agent", "owner", "manager", "admin"}     # belong to the support team (admins: every team)
MANAGERS = {"manager", "admin"}

# action -> the case state it needs, who may do it
CASE_ACTIONS: dict[str, tuple[str, set[str]]] = {
    "take": ("open", TEAM),
    "pick_self": ("open", TEAM),
    "pick_teammate": ("open", MANAGERS),
    "reassign": ("owned", MANAGERS),
    "step": ("owned", WORKERS),
    "dismiss": ("owned", WORKERS),
    "snooze": ("owned", WORKERS),
    "close_loop": ("resolved", WORKERS),
    "reopen": ("closed", WORKERS),
    "remind_owner": ("owned", MANAGERS),
}

# /cx subcommand -> (text, who may, a phrase only a successful answer has)
COMMANDS: dict[str, tuple[str, set[str], str]] = {
    "case": ("case {cid}", TEAM, "History"),
    "assign": ("assign {cid} {carlos} Carlos speaks Spanish", MANAGERS, "is now with"),
    "open": ("open support", MANAGERS, "Open cases"),
    "team_add": ("team add {tom} support", MANAGERS, "Added"),
    "role": ("role {bob} manager", {"admin"}, "is now manager"),
    "team_create": ("team create returns Returns desk", {"admin"}, "Created the returns team"),
}

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)  # a Wednesday morning


@pytest.fixture(autouse=True)
def _clock(process_clock) -> None:
    process_clock.now = NOW


# --- cases in each state, made through the core ----------------------------------------------


_serial = iter(range(1, 10**6))


def make_case(engine: Engine, ws: Workspace, state: str) -> int:
    """A support case (phone touchpoint) in `state`: open, owned (by Alice), resolved or closed."""
    r = build_response({"source": "generic", "external_id": f"perm-{next(_serial)}", "survey": "nps", "score": 2,
                        "comment": "Nobody called back.", "customer_name": "Dana Reyes", "customer_email": "dana@example.com",
                        "touchpoint": "phone", "responded_at": (NOW - timedelta(hours=1)).isoformat()})
    cid = record_response(engine, ws, r, now=NOW - timedelta(hours=1)).case_id
    assert cid is not None
    if state == "open":
        return cid
    with session_scope(engine) as s:
        alice = actor_for(s, member_by_slack(s, "U0ALICE"))
        publish_change(s, ws, cases.get_case(s, cid), cases.take(s, alice, cid, now=NOW - timedelta(minutes=50)))
        if state in ("resolved", "closed"):
            for step in STEPS:
                cases.tick_step(s, alice, cid, step, note="done" if step is ResolvedStep.DOCUMENT else None,
                                customer_agreed=True if step is ResolvedStep.VERIFY else None,
                                root_cause="processes" if step is ResolvedStep.DOCUMENT else None,
                                now=NOW - timedelta(minutes=40))
        if state == "closed":
            cases.close_loop(s, alice, cid, how="phone", now=NOW - timedelta(minutes=30))
        publish_change(s, ws, cases.get_case(s, cid), cases.history(s, cid)[-1][0])
    return cid


def snapshot(engine: Engine) -> tuple[Any, ...]:
    """Everything a refused action must leave as it was."""
    with Session(engine) as s:
        case_rows = [(c.id, c.owner_id, c.status, c.version, c.round, c.snoozed_until, c.loop_closed_at)
                     for c in s.exec(select(Case).order_by(Case.id))]
        memberships = sorted((m.team, m.member_id, m.is_manager, m.removed) for m in s.exec(select(TeamMembership)))
        roles = sorted((m.slack_user_id or "", m.role) for m in s.exec(select(Member)))
        counts = tuple(s.exec(select(func.count()).select_from(t)).one()
                       for t in (CaseStep, CaseEvent, AuditEntry, OutboxMessage))
    return case_rows, memberships, roles, counts


def _roles_except(allowed: set[str]) -> list[str]:
    return [r for r in ROLES if r not in allowed]


# --- the core: one truth table, checked without any chat platform ------------------------------


def _domain_action(name: str) -> Callable[[Session, Any, int], None]:
    def carlos(s: Session) -> Member:
        return member_by_slack(s, "U0CARLOS")

    actions: dict[str, Callable[[Session, Any, int], Any]] = {
        "take": lambda s, a, cid: cases.take(s, a, cid, now=NOW),
        "pick_self": lambda s, a, cid: cases.assign(s, a, cid, a.member, now=NOW),
        "pick_teammate": lambda s, a, cid: cases.assign(s, a, cid, carlos(s), now=NOW),
        "reassign": lambda s, a, cid: cases.assign(s, a, cid, carlos(s), reason="Carlos speaks Spanish", now=NOW),
        "step": lambda s, a, cid: cases.tick_step(s, a, cid, ResolvedStep.RESPOND, now=NOW),
        "dismiss": lambda s, a, cid: cases.dismiss(s, a, cid, reason="duplicate", now=NOW),
        "snooze": lambda s, a, cid: cases.snooze(s, a, cid, until=NOW + timedelta(hours=4), reason="waiting",
                                                 max_snooze=timedelta(days=3), now=NOW),
        "close_loop": lambda s, a, cid: cases.close_loop(s, a, cid, how="phone", now=NOW),
        "reopen": lambda s, a, cid: cases.reopen(s, a, cid, reason="came back", now=NOW),
        "remind_owner": lambda s, a, cid: ask_owner_for_update(s, s.info["ws"], a, cid, now=NOW),
    }
    return actions[name]


@pytest.mark.parametrize("action", list(CASE_ACTIONS))
def test_the_core_allows_each_case_action_only_to_its_roles(engine, action):
    from bot.config import load_workspace
    from bot.people.roster import sync_workspace

    ws = load_workspace()
    with session_scope(engine) as s:
        sync_workspace(s, ws)
    state, allowed = CASE_ACTIONS[action]
    for role, uid in ROLES.items():
        cid = make_case(engine, ws, state)
        before = snapshot(engine)
        try:
            with session_scope(engine) as s:
                s.info["ws"] = ws
                _domain_action(action)(s, actor_for(s, member_by_slack(s, uid)), cid)
            outcome = "done"
        except CxError as exc:
            outcome = str(exc)
        if role in allowed:
            assert outcome == "done", f"{role} should be able to {action}: {outcome}"
            assert snapshot(engine) != before
        else:
            assert outcome != "done", f"{role} must not be able to {action}"
            # an unknown Slack user becomes a member on first sight; nothing else may change
            after = snapshot(engine)
            assert (after[0], after[1], after[3]) == (before[0], before[1], before[3]), f"{role} {action} changed state"


def test_whoever_gets_a_case_must_belong_to_its_team(engine):
    from bot.config import load_workspace
    from bot.people.roster import sync_workspace

    ws = load_workspace()
    with session_scope(engine) as s:
        sync_workspace(s, ws)
    for state in ("open", "owned"):
        cid = make_case(engine, ws, state)
        for who in ("U0TOM", "U0NOBODY", "U0MEERA"):  # another team's agent, a stranger, another team's manager
            before = snapshot(engine)
            with session_scope(engine) as s:
                manager = actor_for(s, member_by_slack(s, "U0MANAGER"))
                with pytest.raises(CxError, match="is not in the support team"):
                    cases.assign(s, manager, cid, member_by_slack(s, who), reason="cover", now=NOW)
            assert snapshot(engine)[0] == before[0]


def test_an_owner_hands_a_case_on_only_through_a_manager(engine):
    from bot.config import load_workspace
    from bot.people.roster import sync_workspace

    ws = load_workspace()
    with session_scope(engine) as s:
        sync_workspace(s, ws)
    cid = make_case(engine, ws, "owned")
    with session_scope(engine) as s:
        alice = actor_for(s, member_by_slack(s, "U0ALICE"))
        with pytest.raises(CxError, match="Only a manager of the support team"):
            cases.assign(s, alice, cid, member_by_slack(s, "U0BOB"), reason="holiday", now=NOW)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_core_allows_each_command_only_to_its_roles(engine, command):
    from bot.config import load_workspace
    from bot.people.roster import sync_workspace

    ws = load_workspace()
    with session_scope(engine) as s:
        sync_workspace(s, ws)
    text, allowed, success = COMMANDS[command]
    for i, (role, uid) in enumerate(ROLES.items()):
        cid = make_case(engine, ws, "owned")
        # someone new to add each time, so an earlier role's success does not change the answer
        with session_scope(engine) as s:
            token = {u: mentions.person(member_by_slack(s, u).id) for u in ("U0CARLOS", f"U0NEW{i}", "U0BOB")}
        line = text.format(cid=cid, carlos=token["U0CARLOS"], tom=token[f"U0NEW{i}"], bob=token["U0BOB"])
        before = snapshot(engine)
        try:
            with session_scope(engine) as s:
                reply = commands.dispatch(s, ws, actor_for(s, member_by_slack(s, uid)), line, now=NOW)
            shown = json.dumps(reply.message.model_dump(mode="json"))
        except CxError as exc:
            shown = str(exc)
        if role in allowed:
            assert success in shown, f"{role}: /cx {line}: {shown[:300]}"
            if command == "team_create":
                return  # the team exists now: the next role would be told so
        else:
            assert success not in shown, f"{role} must not be able to /cx {line}"
            after = snapshot(engine)
            assert (after[0], after[1], after[3]) == (before[0], before[1], before[3])


# --- Slack: signed requests, as Slack sends them --------------------------------------------


def _forged(action: str, value: dict[str, Any], ts: str, *, picker: bool = False) -> dict[str, Any]:
    """A message holding one element with `value`, as anyone could craft it (Slack signs the
    request, not the button): the values the core receives are the attacker's choice."""
    el = UserPicker(action=action, placeholder="Pick", value=value) if picker else Button(action=action, label="Go",
                                                                                          value=value)
    return {**render.message(Message(text="x", blocks=[Actions(elements=[el])])), "ts": ts}


SLACK_CLICKS: dict[str, tuple[str, dict[str, Any], str | None]] = {
    # action -> (action id, extra value, picked user: "self" or a user id)
    "take": ("case_take", {}, None),
    "pick_self": ("case_assign", {}, "self"),
    "pick_teammate": ("case_assign", {}, "U0CARLOS"),
    "reassign": ("case_reassign", {}, "U0CARLOS"),
    "step": ("case_step", {"step": "respond"}, None),
    "dismiss": ("case_dismiss", {}, None),
    "snooze": ("case_snooze", {}, None),
    "close_loop": ("case_close_loop", {}, None),
    "reopen": ("case_reopen", {}, None),
    "remind_owner": ("case_remind_owner", {}, None),
}
FORM_VALUES = {
    "reassign": {"reason": "Carlos speaks Spanish"},
    "step": {"note": "called her"},
    "dismiss": {"reason": "duplicate"},
    "snooze": {"for": "4h", "reason": "waiting on the courier"},
    "close_loop": {"how": "phone", "when": int(NOW.timestamp())},
    "reopen": {"reason": "she wrote again"},
}


async def _slack_click(cx: CxHarness, uid: str, action: str, cid: int) -> None:
    action_id, extra, picked = SLACK_CLICKS[action]
    picker = picked is not None
    msg = _forged(action_id, {"case": cid, **extra}, cx.alert(cid)["ts"], picker=picker)
    await cx.click(uid, msg, action_id, selected_user=(uid if picked == "self" else picked) if picker else None)


@pytest.mark.parametrize("role", list(ROLES))
async def test_slack_case_actions_for_each_role(engine, role):
    uid = ROLES[role]
    async with CxHarness(engine) as cx:
        for action, (state, allowed) in CASE_ACTIONS.items():
            cid = make_case(engine, cx.ws, state)
            await cx.deliver()
            modals = len(cx.slack.calls_to("views.open"))
            told = len(cx.ephemerals_for(uid))
            before = snapshot(engine)
            await _slack_click(cx, uid, action, cid)
            opened = len(cx.slack.calls_to("views.open")) > modals
            if role not in allowed:
                assert not opened, f"{role} got the {action} form"
                assert len(cx.ephemerals_for(uid)) == told + 1, f"{role} was not told why {action} was refused"
                after = snapshot(engine)
                assert (after[0], after[1], after[3]) == (before[0], before[1], before[3]), f"{role} {action}"
                if action in FORM_VALUES:
                    # a forged submission of the form (opened by a manager) is refused too
                    await _slack_click(cx, "U0MANAGER", action, cid)
                    reply = await cx.submit(uid, cx.last_modal(), FORM_VALUES[action])
                    assert json.loads(reply.text or "{}").get("response_action") == "errors", f"{role} {action}"
                    after = snapshot(engine)
                    assert (after[0], after[3]) == (before[0], before[3]), f"{role} submitted {action}"
            else:
                if action in FORM_VALUES:
                    assert opened, f"{role} should get the {action} form: {cx.ephemerals_for(uid)[told:]}"
                    reply = await cx.submit(uid, cx.last_modal(), FORM_VALUES[action])
                    assert reply.status == 200 and "errors" not in (reply.text or ""), (role, action, reply.text)
                assert snapshot(engine) != before, f"{role} could not {action}: {cx.ephemerals_for(uid)[told:]}"


@pytest.mark.parametrize("role", list(ROLES))
async def test_slack_commands_for_each_role(engine, role):
    uid = ROLES[role]
    async with CxHarness(engine) as cx:
        for command, (text, allowed, success) in COMMANDS.items():
            cid = make_case(engine, cx.ws, "owned")
            before = snapshot(engine)
            reply = await cx.command(uid, text.format(cid=cid, carlos="<@U0CARLOS|carlos>", tom="<@U0TOM|tom>",
                                                      bob="<@U0BOB|bob>"))
            shown = reply.text
            if role in allowed:
                assert success in shown, f"{role}: {text}: {shown[:300]}"
            else:
                assert success not in shown and ("Only" in shown or "only" in shown or "You don't" in shown
                                                 or "needs" in shown or "manager" in shown), f"{role}: {shown[:300]}"
                after = snapshot(engine)
                assert (after[0], after[1], after[3]) == (before[0], before[1], before[3]), f"{role} /cx {text}"
                assert "Dana" not in shown and "Nobody called back" not in shown  # no customer data leaks


# --- Teams: signed activities through the Bot Connector stand-in -----------------------------


TEAMS_ROLES = {role: (PEOPLE[uid][0] if uid in PEOPLE else OUTSIDER[0]) for role, uid in ROLES.items()}
TEAMS_BUTTONS = {
    # action -> (where the button is: "alert" or "dm", its title, picked person)
    "take": ("alert", "Take it", None),
    "pick_self": ("alert", "Assign to", "self"),
    "pick_teammate": ("alert", "Assign to", PEOPLE["U0CARLOS"][0]),
    "reassign": ("alert", "Reassign to", PEOPLE["U0CARLOS"][0]),
    "step": ("alert", "1. ", None),
    "dismiss": ("alert", "Not actionable", None),
    "snooze": ("dm", "Snooze", None),
    "close_loop": ("alert", "Close the loop", None),
    "reopen": ("alert", "Reopen", None),
}
TEAMS_FORM_VALUES = {
    "reassign": {"reason": "Carlos speaks Spanish"},
    "step": {"note": "called her"},
    "dismiss": {"reason": "duplicate"},
    "snooze": {"for": "4h", "reason": "waiting on the courier"},
    "close_loop": {"how": "phone"},
    "reopen": {"reason": "she wrote again"},
}


def _refusal(body: Any) -> str | None:
    """What a Teams dialog answer told the clicker it refused: a one-line dialog, or the warning
    shown at the top of a form (a picker keeps its dialog open with the reason)."""
    told = dialog_message(body)
    if told is not None:
        return told
    text = json.dumps(body, ensure_ascii=False)
    start = text.find("⚠ ")
    return text[start + 2:text.find('"', start)] if start >= 0 else None


def _card_for(cx: TeamsHarness, where: str, cid: int) -> dict[str, Any]:
    if where == "alert":
        return cx.alert(cid)
    owner_dm = [a for a in cx.dm(PEOPLE["U0ALICE"][0]) if f"#{cid}" in json.dumps(a)]
    return owner_dm[-1]


async def _teams_click(cx: TeamsHarness, aad: str, action: str, cid: int) -> Any:
    where, title, picked = TEAMS_BUTTONS[action]
    card = _card_for(cx, where, cid)
    body = await cx.click(aad, card, title)
    if picked is not None and _refusal(body) is None:
        body = await cx.submit(aad, body, {"picked": aad if picked == "self" else picked}, card)
    return body


@pytest.mark.parametrize("role", list(ROLES))
async def test_teams_case_actions_for_each_role(engine, role):
    aad = TEAMS_ROLES[role]
    async with TeamsHarness(engine) as cx:
        await cx.install()
        for action, (state, allowed) in CASE_ACTIONS.items():
            if action not in TEAMS_BUTTONS:
                continue
            cid = make_case(engine, cx.ws, state)
            await cx.deliver()
            before = snapshot(engine)
            body = await _teams_click(cx, aad, action, cid)
            told = _refusal(body)
            if role not in allowed:
                assert told and ("Only" in told or "only" in told or "already owned" in told), f"{role} {action}: {body}"
                after = snapshot(engine)
                assert (after[0], after[1], after[3]) == (before[0], before[1], before[3]), f"{role} {action}"
                if action in TEAMS_FORM_VALUES:
                    where, _, _ = TEAMS_BUTTONS[action]
                    card = _card_for(cx, where, cid)
                    form = await _teams_click(cx, TEAMS_ROLES["manager"], action, cid)
                    forged = await cx.submit(aad, form, TEAMS_FORM_VALUES[action], card)
                    assert "nly" in (_refusal(forged) or ""), f"{role} submitted {action}: {forged}"
                    after = snapshot(engine)
                    assert (after[0], after[3]) == (before[0], before[3]), f"{role} submitted {action}"
            else:
                if action in TEAMS_FORM_VALUES:
                    assert told is None, f"{role} should get the {action} form: {told}"
                    where, _, _ = TEAMS_BUTTONS[action]
                    await cx.submit(aad, body, TEAMS_FORM_VALUES[action], _card_for(cx, where, cid))
                assert snapshot(engine) != before, f"{role} could not {action}: {body}"


@pytest.mark.parametrize("role", list(ROLES))
async def test_teams_commands_for_each_role(engine, role):
    aad = TEAMS_ROLES[role]
    names = {uid: PEOPLE[uid] for uid in ("U0CARLOS", "U0BOB")}
    async with TeamsHarness(engine) as cx:
        await cx.install()
        for command, (text, allowed, success) in COMMANDS.items():
            if command == "team_add":
                continue  # Tom has no Teams account in the stand-in; the Slack run covers the rule
            cid = make_case(engine, cx.ws, "owned")
            before = snapshot(engine)
            line = "cx " + text.format(cid=cid, carlos=f"@{names['U0CARLOS'][1]}", bob=f"@{names['U0BOB'][1]}", tom="")
            mentions = [names[u][0] for u in ("U0CARLOS", "U0BOB") if f"@{names[u][1]}" in line]
            chat = await cx.teams.install_personal(cx.bot_url, aad)
            seen = len(cx.teams.activities(chat))
            # Mentions of colleagues resolve in the team's channel (a personal chat has no one else in it)
            where = SUPPORT if mentions else chat
            status, _ = await cx.teams.message(cx.bot_url, aad, line, conversation=where, mentions=mentions)
            assert status < 300
            answers = cx.teams.activities(chat)[seen:]
            if where == SUPPORT:
                answers += cx.teams.thread(SUPPORT, cx.teams.posts(SUPPORT)[-1]["id"])
            answer = " ".join(teams_text(a) for a in answers)
            if role in allowed:
                assert success in answer, f"{role}: {line}: {answer[:300]}"
            else:
                assert success not in answer, f"{role} must not: {line}"
                after = snapshot(engine)
                assert (after[0], after[1], after[3]) == (before[0], before[1], before[3]), f"{role} {line}"
                assert "Dana" not in answer and "Nobody called back" not in answer
