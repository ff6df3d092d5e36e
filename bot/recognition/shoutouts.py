"""Recognition: peer kudos, customer praise that names someone, and loops closed within SLA.

Three sources of `Shoutout` rows:
- "peer": `/cx kudos @user TEXT`, posted at once in the team channel;
- "customer": praise (NPS 9–10, CSAT 5, CES 4–5) whose comment names exactly one roster person per
  mention, posted in that person's team channel (after a manager approves it, when approval is on);
- "loop": a case whose loop was closed by its resolve-by time, recorded (not posted) for the digest.
Each is once-only, keyed in `job_claim`, so a retried webhook or a re-run never doubles one.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import Engine, exists, update
from sqlmodel import Session, select

from bot.recognition import messages as rm
from bot.console.registry import Reply, command
from bot.config import Person, Workspace
from bot.errors import BadInput, InvalidState, NotAllowed, NotFound
from bot.intake.hooks import response_hook
from bot.chat.messages import Message
from bot.chat import mentions
from bot.cases.notify import channel_targets, member_targets
from bot.nudges.jobs import person_zone
from bot.machinery.queueing import enqueue
from bot.cases.resolved import CaseStatus
from bot.people.names import member_id_of, praise_roster
from bot.people.roles import Role
from bot.people.roster import Actor, person_ref, team_managers
from bot.machinery.schedule import claim, due_job
from bot.cases.sla import next_working_instant
from bot.intake.surveys import SurveyKind, is_positive
from storage.db import session_scope
from storage.models import Case, Member, OutboxMessage, Shoutout, SurveyResponse, TeamMembership

log = logging.getLogger(__name__)

MAX_KUDOS = 1000
# Until the workspace YAML has `recognition: {approval: true|false}` (see the proposed config):
# whether customer shout-outs wait for a manager's approval before they are posted.
APPROVAL_REQUIRED = False
# Praise older than this when it is stored (a CSV import of last quarter) is history, not news.
PRAISE_WINDOW = timedelta(days=7)
# How far back the due job looks for loops closed within SLA (it runs every minute; this covers downtime).
LOOP_LOOKBACK = timedelta(days=14)

POSTED, PENDING, SKIPPED, RECORDED = "posted", "pending", "skipped", "recorded"


def approval_required(ws: Workspace) -> bool:
    cfg = getattr(ws, "recognition", None)
    return bool(cfg.approval) if cfg is not None else APPROVAL_REQUIRED


# --- helpers shared with Customer Service Week -----------------------------------------------


def dm_in_working_hours(session: Session, ws: Workspace, member: Member, key: str, message: Message,
                        now: datetime) -> None:
    """Queue a DM (once per key) that waits for the person's working hours in their own zone."""
    at = next_working_instant(now, person_zone(member, ws), ws.business_hours)
    for platform, user in member_targets(member):
        enqueue(session, key=f"{platform}:{key}", platform=platform, action="dm", target=user, message=message,
                not_before=at)


def post_to_team(session: Session, ws: Workspace, team: str, key: str, message: Message, *,
                 thread_key: str | None = None) -> list[str]:
    """Queue a post in each of the team's channels; returns the outbox keys used."""
    keys = []
    for platform, channel in channel_targets(ws, team):
        full = f"{platform}:{key}"
        enqueue(session, key=full, platform=platform, action="post", target=channel, message=message,
                thread_key=f"{platform}:{thread_key}" if thread_key else None)
        keys.append(full)
    return keys


def update_post(session: Session, anchor: str, key: str, message: Message) -> bool:
    """Queue an edit of an earlier post, if that post was ever queued (else nothing to edit)."""
    row = session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == anchor)).first()
    if row is None:
        return False
    return enqueue(session, key=key, platform=row.platform, action="update", target=row.target, message=message,
                   anchor_key=anchor)


def team_title(ws: Workspace, team: str) -> str:
    try:
        return ws.team(team).title
    except KeyError:
        return team


def teams_of(session: Session, ws: Workspace, member: Member) -> list[str]:
    """The member's teams (as member or manager), in the workspace's order."""
    order = {t.key: i for i, t in enumerate(ws.teams)}
    rows = set(session.exec(select(TeamMembership.team).where(TeamMembership.member_id == member.id,
                                                              TeamMembership.removed == False)))  # noqa: E712
    return sorted((t for t in rows if t in order), key=order.__getitem__)


def _member_for(session: Session, ws: Workspace, slack_user_id: str) -> Member:
    """The member a praise roster key names: a Slack user id (created if new), or "member:<id>"
    for a member known by their chat profile's names (bot/people/names.py)."""
    mid = member_id_of(slack_user_id)
    if mid is not None:
        found = session.get(Member, mid)
        if found is None:
            raise NotFound(f"member {mid} is gone")
        return found
    m = session.exec(select(Member).where(Member.slack_user_id == slack_user_id)).first()
    if m is None:
        person = ws.people.get(slack_user_id)
        m = Member(slack_user_id=slack_user_id, role=Role.AGENT.value, name=person.name if person else None,
                   tz=person.tz if person else None)
        session.add(m)
        session.flush()
    return m


# --- /cx kudos -------------------------------------------------------------------------------


def kudos_team(session: Session, ws: Workspace, giver: Actor, receiver: Member) -> str | None:
    """Where kudos go: a team both share, else the receiver's team, else the giver's."""
    theirs = teams_of(session, ws, receiver)
    mine = teams_of(session, ws, giver.member)
    shared = [t for t in theirs if t in mine]
    for choice in (shared, theirs, mine):
        if choice:
            return choice[0]
    return None


def give_kudos(session: Session, ws: Workspace, giver: Actor, receiver: Member, text: str, *,
               now: datetime) -> tuple[Shoutout, str]:
    """Record a peer shout-out and queue it in the team channel; returns it and its team."""
    if receiver.id == giver.id:
        raise InvalidState("Kudos are for thanking someone else. Who helped you this week?")
    name = receiver.name or receiver.slack_user_id or "them"
    if not text:
        raise BadInput(f"Say what you're thanking {name} for: `/cx kudos @{name} for …`.", field="text")
    if len(text) > MAX_KUDOS:
        raise BadInput(f"Your kudos is {len(text):,} characters; the most is {MAX_KUDOS:,}. Shorten it and try again.",
                       field="text")
    team = kudos_team(session, ws, giver, receiver)
    if team is None:
        raise InvalidState(f"Neither you nor {name} is in a cxloop team yet, so there's no team channel to post in.")
    if not channel_targets(ws, team):
        raise InvalidState(f"The {team_title(ws, team)} team has no channel set up, so kudos can't be posted there.")
    row = Shoutout(team=team, to_member_id=receiver.id, from_member_id=giver.id, source="peer", text=text,  # type: ignore[arg-type]
                   status=POSTED, created_at=now)
    session.add(row)
    session.flush()
    post_to_team(session, ws, team, f"shoutout:{row.id}",
                 rm.peer_shoutout(person_ref(giver.member), person_ref(receiver), text))
    return row, team


@command("kudos", "kudos @user TEXT", "Thank a colleague in their team's channel", raw=True)
def _kudos(session: Session, ws: Workspace, actor: Actor, args: list[str], now: datetime) -> Reply:
    line = " ".join(args).strip()
    lead = mentions.leading_person(line)
    if lead is None:
        first = line.split(None, 1)[0] if line else ""
        if first.startswith("@"):
            raise NotFound(f"I couldn't find {first} in the chat. Choose them from the list that appears as you type @, "
                           f"so the command carries who they are.")
        raise BadInput("Say who you're thanking, then what for: `/cx kudos @user TEXT`.", field="user")
    receiver_id, rest = lead
    receiver = session.get(Member, receiver_id)
    stranger = receiver is not None and receiver.role == Role.AGENT.value and not teams_of(session, ws, receiver) \
        and (receiver.slack_user_id or "") not in ws.people
    if receiver is None or stranger:
        shown = f"@{receiver.name}" if receiver is not None and receiver.name else "That person"
        raise NotFound(f"{shown} isn't in any cxloop team yet, so there's no team channel to thank them in. "
                       f"Ask a manager to add them to a team.")

    def name_of(member_id: int) -> str | None:
        other = session.get(Member, member_id)
        if other is None:
            return None
        person = ws.people.get(other.slack_user_id or "")
        return (person.name if person else None) or other.name

    text = mentions.readable(rest, name_of)
    _, team = give_kudos(session, ws, actor, receiver, text, now=now)
    return Reply(rm.kudos_reply(team_title(ws, team)))


# --- customer praise naming someone ----------------------------------------------------------


def fold(text: str) -> str:
    """Case- and accent-insensitive form: 'Zoë Müller' → 'zoe muller'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _folded_with_map(text: str) -> tuple[str, list[int]]:
    """`fold(text)` and, for each of its characters, the index of the original character it came from."""
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        f = fold(ch)
        out.append(f)
        where.extend([i] * len(f))
    return "".join(out), where


def _key(name: str) -> str:
    return " ".join(fold(name).split())


@dataclass(frozen=True)
class NameIndex:
    """Roster names (folded) to the people they may mean; more than one person means ambiguous."""

    people: dict[str, frozenset[str]]
    pattern: re.Pattern[str] | None


@lru_cache(maxsize=16)
def _index(roster: tuple[tuple[str, str, tuple[str, ...]], ...]) -> NameIndex:
    names: dict[str, set[str]] = {}
    firsts: dict[str, set[str]] = {}
    for uid, name, aliases in roster:
        for n in (name, *aliases):
            if _key(n):
                names.setdefault(_key(n), set()).add(uid)
        words = _key(name).split()
        if len(words) > 1:
            firsts.setdefault(words[0], set()).add(uid)
    # A first name counts only when no one else has it as a first name or an alias.
    for first, uids in firsts.items():
        names.setdefault(first, set()).update(uids)
    people = {k: frozenset(v) for k, v in names.items()}
    if not people:
        return NameIndex(people, None)
    alternatives = sorted(people, key=len, reverse=True)  # longest first: "sam taylor" before "sam"
    body = "|".join(r"\s+".join(re.escape(w) for w in k.split()) for k in alternatives)
    return NameIndex(people, re.compile(rf"(?<!\w)(?:{body})(?!\w)"))


def name_index(ws: Workspace | dict[str, Person]) -> NameIndex:
    """The names to look for: a workspace's `people:`, or a whole praise roster (bot/people/names.py)."""
    people = ws.people if isinstance(ws, Workspace) else ws
    return _index(tuple((uid, p.name, tuple(p.aliases)) for uid, p in sorted(people.items())))


# "Sam or Samira": the customer isn't sure who helped, so neither is credited.
_UNSURE = re.compile(r"^[\s,(]*(?:or(?:\s+(?:maybe|perhaps|possibly|was\s+it))?|/)[\s,)]*$")


def people_named(comment: str, index: NameIndex) -> list[str]:
    """Roster ids the comment names unambiguously, in order of first mention.

    Names match whole words, ignoring case and accents. A one-word name written in lower case inside a
    comment that otherwise uses capitals ("handled with grace", "my bill") is read as an ordinary word.
    A name that fits several people matches no one; two people joined by "or" are both dropped.
    """
    if index.pattern is None or not comment:
        return []
    folded, where = _folded_with_map(comment)
    capitalised = any(c.isupper() for c in comment)
    hits: list[tuple[int, int, frozenset[str]]] = []
    for m in index.pattern.finditer(folded):
        key = " ".join(m.group(0).split())
        original = comment[where[m.start()]: where[m.end() - 1] + 1]
        if " " not in key and capitalised and original == original.lower():
            continue
        hits.append((m.start(), m.end(), index.people[key]))
    unsure: set[int] = set()
    for i in range(1, len(hits)):
        if _UNSURE.match(folded[hits[i - 1][1]: hits[i][0]]) and hits[i - 1][2] != hits[i][2]:
            unsure.update((i - 1, i))
    out: list[str] = []
    for i, (_, _, uids) in enumerate(hits):
        if i in unsure or len(uids) != 1:
            continue
        (uid,) = uids
        if uid not in out:
            out.append(uid)
    return out


def is_praise(survey: str, score: int) -> bool:
    """Praise worth a shout-out: an NPS promoter, CSAT 5, CES 4–5 (the codebase's one definition)."""
    return is_positive(SurveyKind(survey), score)


def approvers(session: Session, team: str) -> list[Member]:
    """Who approves a team's customer shout-outs: its managers, else the admins."""
    managers = team_managers(session, team)
    if managers:
        return managers
    return list(session.exec(select(Member).where(Member.role == Role.ADMIN.value).order_by(Member.id)))


def customer_shoutout(session: Session, ws: Workspace, response: SurveyResponse, member: Member, *,
                      now: datetime) -> Shoutout | None:
    """Credit `member` for a customer's praise, once per (response, member)."""
    if not claim(session, f"shoutout:customer:{response.id}:{member.id}"):
        return None
    teams = teams_of(session, ws, member)
    team = response.team if response.team in teams else (teams[0] if teams else response.team or ws.default_team)
    needs_approval = approval_required(ws)
    helpers = approvers(session, team) if needs_approval else []
    row = Shoutout(team=team, to_member_id=member.id, from_member_id=None, source="customer",  # type: ignore[arg-type]
                   text=response.comment or "", response_id=response.id, status=PENDING if helpers else POSTED,
                   created_at=now)
    session.add(row)
    session.flush()
    ref = person_ref(member)
    if row.status == POSTED:
        post_to_team(session, ws, team, f"shoutout:{row.id}", rm.customer_shoutout(ref, response))
        return row
    msg = rm.approval_request(row.id, ref, response, team_title(ws, team))  # type: ignore[arg-type]
    for m in helpers:
        dm_in_working_hours(session, ws, m, f"shoutout:{row.id}:approval:{m.id}", msg, now)
    return row


@response_hook
def on_response(session: Session, ws: Workspace, response: SurveyResponse, now: datetime) -> None:
    """Response hook: praise that names team members becomes their shout-outs."""
    if not response.comment or not is_praise(response.survey, response.score):
        return
    if response.responded_at < now - PRAISE_WINDOW:
        return
    if _model_checks_names(session, ws):
        return  # the `assist` due job credits them once the model has read the comment (bot.assist.jobs)
    index = name_index(praise_roster(session, ws))  # the YAML's names and those learned from chat profiles
    credit_named(session, ws, response, people_named(response.comment, index), now=now)


def credit_named(session: Session, ws: Workspace, response: SurveyResponse, uids: list[str], *,
                 now: datetime) -> None:
    """Credit each roster person (by id) a customer's praise names; one failing never stops the rest."""
    for uid in uids:
        try:
            with session.begin_nested():
                customer_shoutout(session, ws, response, _member_for(session, ws, uid), now=now)
        except Exception:  # recognition must never stop a response from being stored
            log.exception("customer shout-out for response %s failed", response.id)


def _model_checks_names(session: Session, ws: Workspace) -> bool:
    """Whether an OpenAI model is configured to confirm names first (it never runs inside intake)."""
    from bot.assist.service import assistant_for
    from bot.config import Settings

    return assistant_for(Settings(), session.get_bind(), ws).online


def decide_shoutout(session: Session, ws: Workspace, actor: Actor, shoutout_id: int, *, approve: bool,
                    now: datetime) -> Shoutout:
    """A manager approves (posts) or skips a pending customer shout-out; the first decision stands."""
    row = session.get(Shoutout, shoutout_id)
    if row is None:
        raise NotFound(f"There is no shout-out #{shoutout_id}.")
    team = row.team or ws.default_team
    if not actor.manages_team(team):
        raise NotAllowed(f"Only a manager of the {team_title(ws, team)} team can approve its shout-outs.")
    new = POSTED if approve else SKIPPED
    # Conditional update: two managers clicking at once can't both decide.
    done = session.execute(update(Shoutout).where(Shoutout.id == shoutout_id, Shoutout.status == PENDING)
                           .values(status=new))
    if done.rowcount != 1:
        session.refresh(row)
        raise InvalidState(f"This shout-out was already {row.status}.")
    session.refresh(row)
    response = session.get(SurveyResponse, row.response_id)
    member = session.get(Member, row.to_member_id)
    assert response is not None and member is not None
    ref = person_ref(member)
    if approve:
        post_to_team(session, ws, team, f"shoutout:{row.id}", rm.customer_shoutout(ref, response))
    decided = rm.approval_decided(ref, response, team_title(ws, team), approved=approve, by=actor.ref)
    asked = session.exec(select(OutboxMessage.dedupe_key).where(
        OutboxMessage.dedupe_key.like(f"%:shoutout:{row.id}:approval:%"), OutboxMessage.action == "dm"))
    for key in asked:
        update_post(session, key, f"{key}:decided", decided)
    return row


# --- loops closed within SLA -----------------------------------------------------------------


def record_loop_closed_well(session: Session, case: Case) -> Shoutout | None:
    """A "loop" shout-out for the owner of a case whose loop closed by its resolve-by time; once per case."""
    if case.owner_id is None or case.loop_closed_at is None or case.resolve_due_at is None:
        return None
    if case.loop_closed_at > case.resolve_due_at:
        return None
    if not claim(session, f"shoutout:loop:{case.id}"):
        return None
    row = Shoutout(team=case.team, to_member_id=case.owner_id, from_member_id=None, source="loop",
                   text=f"Closed the loop on case #{case.id} within its SLA", response_id=case.response_id,
                   case_id=case.id, status=RECORDED, created_at=case.closed_at or case.loop_closed_at)
    session.add(row)
    session.flush()
    return row


@due_job("recognition")
def record_loops_closed_well(engine: Engine, ws: Workspace, now: datetime) -> int:
    """Record every loop closed within SLA in the last two weeks that has no record yet."""
    with session_scope(engine) as s:
        ids = list(s.exec(select(Case.id).where(
            Case.status == CaseStatus.CLOSED.value, Case.owner_id.is_not(None), Case.loop_closed_at.is_not(None),  # type: ignore[union-attr]
            Case.resolve_due_at.is_not(None), Case.loop_closed_at <= Case.resolve_due_at,  # type: ignore[union-attr,operator]
            Case.closed_at > now - LOOP_LOOKBACK, Case.closed_at <= now,  # type: ignore[operator]
            ~exists().where(Shoutout.case_id == Case.id, Shoutout.source == "loop")).order_by(Case.id)))
    recorded = 0
    with session_scope(engine) as s:
        for cid in ids:
            try:
                with s.begin_nested():
                    case = s.get(Case, cid)
                    if case is not None and record_loop_closed_well(s, case) is not None:
                        recorded += 1
            except Exception:  # one bad case never stops the rest
                log.exception("loop record for case %s failed", cid)
    return recorded


# --- for the digest and Customer Service Week ------------------------------------------------


def recognition_between(session: Session, *, since: datetime, until: datetime, team: str | None = None,
                        sources: tuple[str, ...] = ("peer", "customer", "loop")) -> list[Shoutout]:
    """Live recognition in [since, until): posted shout-outs and loop records, never pending or skipped."""
    q = select(Shoutout).where(Shoutout.created_at >= since, Shoutout.created_at < until,
                               Shoutout.status.in_([POSTED, RECORDED]), Shoutout.source.in_(sources))  # type: ignore[attr-defined]
    if team is not None:
        q = q.where(Shoutout.team == team)
    return list(session.exec(q.order_by(Shoutout.created_at, Shoutout.id)))
