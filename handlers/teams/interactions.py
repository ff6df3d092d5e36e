"""What each card button and dialog form does in Teams: parse, call the core, say what happened.

The same core calls as the Slack listeners, with the same checks before a form is shown (so a
refusal comes before anyone types a note). Every button opens a Teams dialog (`task/fetch`): a
form to fill in, or a one-line answer only the clicker sees (Teams has no ephemeral messages).
A picker (assign to…) becomes a dialog with Teams' people picker; a confirmation, a dialog with Yes.
All functions here run inside one database transaction (`Runtime.transaction`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Union

from sqlmodel import Session

from bot.cases import messages as cm
from bot.cases import service as cases
from bot.console import registry as commands
from bot.cases.enums import CaseAction, CaseForm
from bot.errors import BadInput, InvalidState, NotAllowed
from bot.chat.messages import Choice, ChoiceInput, Form, Message, Section, UserInput, plain
from bot.cases.notify import publish_change
from bot.cases.resolved import ResolvedStep
from bot.people.roster import Actor, member_by_id, person_ref
from bot.machinery.runtime import Runtime
from handlers.teams.people import member_by_teams

Outcome = Union[Form, Message, str, None]

PICK_FORM = "teams_pick"
CONFIRM_FORM = "teams_confirm"


@dataclass(frozen=True)
class Click:
    """A button clicked in Teams, by `actor`, with the button's value and what was picked for it."""

    rt: Runtime
    actor: Actor
    value: dict[str, Any]
    picked: str | None = None
    conversation_id: str | None = None


@dataclass(frozen=True)
class Submission:
    """A dialog form submitted: its metadata and its values (as `cards.form_values` reads them)."""

    rt: Runtime
    actor: Actor
    meta: dict[str, Any]
    values: dict[str, Any]
    conversation_id: str | None = None


ActionFn = Callable[[Session, Click], Outcome]
FormRebuild = Callable[[Session, Runtime, dict[str, Any]], Form]
FormApply = Callable[[Session, Submission], Outcome]

ACTIONS: dict[str, ActionFn] = {}
FORMS: dict[str, tuple[FormRebuild, FormApply]] = {}


def action(name: str | CaseAction):  # type: ignore[no-untyped-def]
    def wrap(fn: ActionFn) -> ActionFn:
        ACTIONS[getattr(name, "value", name)] = fn
        return fn
    return wrap


def form(callback: str | CaseForm, rebuild: FormRebuild):  # type: ignore[no-untyped-def]
    def wrap(fn: FormApply) -> FormApply:
        FORMS[getattr(callback, "value", callback)] = (rebuild, fn)
        return fn
    return wrap


def _case_id(value: dict[str, Any]) -> int:
    try:
        return int(value["case"])
    except (KeyError, TypeError, ValueError):
        raise BadInput("That button has lost track of its case; use `cx case ID` instead.") from None


def _publish(session: Session, rt: Runtime, event) -> None:  # type: ignore[no-untyped-def]
    publish_change(session, rt.workspace, cases.get_case(session, event.case_id), event)


def _owner_or_manager(actor: Actor, case, doing: str) -> None:  # type: ignore[no-untyped-def]
    if not (case.owner_id == actor.id or actor.manages_team(case.team)):
        raise NotAllowed(f"Only the case owner or a manager of the {case.team} team can {doing} case #{case.id}.")


# --- generic dialogs -------------------------------------------------------------------------


def pick_form(action_id: str, value: dict[str, Any], pick: dict[str, Any]) -> Form:
    """The dialog behind a picker: Teams' people picker, or a list of options."""
    label = str(pick.get("label") or "Choose")
    if pick.get("kind") == "choice":
        options = [Choice(value=str(v), label=str(lbl)) for v, lbl in pick.get("options") or []]
        field: Any = ChoiceInput(id="picked", label=label, options=options)
    else:
        field = UserInput(id="picked", label=label.rstrip("…. ") or "Person")
    return Form(callback=PICK_FORM, title=label.rstrip("… ")[:40] or "Choose", submit="OK", inputs=[field],
                metadata={"action": action_id, "value": value, "pick": pick})


def confirm_form(action_id: str, value: dict[str, Any], text: str) -> Form:
    return Form(callback=CONFIRM_FORM, title="Are you sure?", submit="Yes", intro=[Section(spans=[plain(text)])],
                inputs=[], metadata={"action": action_id, "value": value})


def run_action(session: Session, click: Click, action_id: str) -> Outcome:
    fn = ACTIONS.get(action_id)
    if fn is None:
        return "That button does not work in Teams yet."
    return fn(session, click)


def _rebuild_pick(s: Session, rt: Runtime, meta: dict[str, Any]) -> Form:
    return pick_form(str(meta.get("action")), dict(meta.get("value") or {}), dict(meta.get("pick") or {}))


@form(PICK_FORM, _rebuild_pick)
def _picked(s: Session, sub: Submission) -> Outcome:
    picked = sub.values.get("picked")
    if not picked:
        raise BadInput("Choose someone first." if (sub.meta.get("pick") or {}).get("kind") != "choice"
                       else "Choose one first.", field="picked")
    click = Click(rt=sub.rt, actor=sub.actor, value=dict(sub.meta.get("value") or {}), picked=str(picked),
                  conversation_id=sub.conversation_id)
    return run_action(s, click, str(sub.meta.get("action")))


def _rebuild_confirm(s: Session, rt: Runtime, meta: dict[str, Any]) -> Form:
    return confirm_form(str(meta.get("action")), dict(meta.get("value") or {}), "")


@form(CONFIRM_FORM, _rebuild_confirm)
def _confirmed(s: Session, sub: Submission) -> Outcome:
    click = Click(rt=sub.rt, actor=sub.actor, value=dict(sub.meta.get("value") or {}),
                  conversation_id=sub.conversation_id)
    return run_action(s, click, str(sub.meta.get("action")))


# --- case buttons ----------------------------------------------------------------------------


@action(CaseAction.TAKE)
def _take(s: Session, c: Click) -> Outcome:
    cid = _case_id(c.value)
    _publish(s, c.rt, cases.take(s, c.actor, cid, now=c.rt.now()))
    return f"You took case #{cid}. Its RESOLVED checklist is in your chat with cxloop."


@action(CaseAction.ASSIGN)
def _assign(s: Session, c: Click) -> Outcome:
    cid = _case_id(c.value)
    if not c.picked:
        raise BadInput("Choose who should have the case.", field="picked")
    assignee = member_by_teams(s, c.rt.workspace, c.picked)
    _publish(s, c.rt, cases.assign(s, c.actor, cid, assignee, now=c.rt.now()))
    return f"Case #{cid} is now with {assignee.name or 'them'}."


@action(CaseAction.REASSIGN)
def _reassign(s: Session, c: Click) -> Outcome:
    cid = _case_id(c.value)
    if not c.picked:
        raise BadInput("Choose who should have the case.", field="picked")
    assignee = member_by_teams(s, c.rt.workspace, c.picked)
    cases.check_assign(s, c.actor, cases.get_case(s, cid), assignee)
    return cm.reassign_form(cid, person_ref(assignee))


@action(CaseAction.DISMISS)
def _dismiss(s: Session, c: Click) -> Outcome:
    cid = _case_id(c.value)
    case = cases.get_case(s, cid)
    cases._require_active(case, "close it")
    _owner_or_manager(c.actor, case, "mark not actionable")
    return cm.dismiss_form(cid)


@action(CaseAction.STEP)
def _step(s: Session, c: Click) -> Outcome:
    cid = _case_id(c.value)
    try:
        step = ResolvedStep(c.value.get("step"))
    except ValueError:
        raise BadInput("That button names no RESOLVED step.") from None
    case = cases.get_case(s, cid)
    cases._require_active(case, "tick steps")
    cases._require_worker(c.actor, case, "tick steps")
    view = cases.load_view(s, c.rt.workspace, cid)
    if step in view.done:
        raise InvalidState(f"“{step.guide.title}” is already done on case #{cid}.")
    return cm.step_form(cid, step)


@action(CaseAction.CLOSE_LOOP)
def _close_loop(s: Session, c: Click) -> Outcome:
    cid = _case_id(c.value)
    case = cases.get_case(s, cid)
    cases._require_worker(c.actor, case, "close the loop")
    if case.status != "resolved":
        raise InvalidState(f"Case #{cid} is not resolved yet.")
    return cm.close_loop_form(cid, c.rt.now())


@action(CaseAction.REOPEN)
def _reopen(s: Session, c: Click) -> Outcome:
    cid = _case_id(c.value)
    _owner_or_manager(c.actor, cases.get_case(s, cid), "reopen")
    return cm.reopen_form(cid)


@action(CaseAction.SNOOZE)
def _snooze(s: Session, c: Click) -> Outcome:
    cid = _case_id(c.value)
    case = cases.get_case(s, cid)
    cases._require_active(case, "snooze it")
    _owner_or_manager(c.actor, case, "snooze")
    return cm.snooze_form(cid)


@action(CaseAction.REMIND_OWNER)
def _remind(s: Session, c: Click) -> Outcome:
    from bot.nudges.chase import ask_owner_for_update

    cid = _case_id(c.value)
    ask_owner_for_update(s, c.rt.workspace, c.actor, cid, now=c.rt.now())
    return f"Asked the owner of case #{cid} for an update."


# --- case forms ------------------------------------------------------------------------------


def _meta_case(meta: dict[str, Any]) -> int:
    return _case_id(meta)


def _rebuild_step(s: Session, rt: Runtime, meta: dict[str, Any]) -> Form:
    return cm.step_form(_meta_case(meta), ResolvedStep(meta.get("step")))


@form(CaseForm.STEP, _rebuild_step)
def _step_done(s: Session, sub: Submission) -> Outcome:
    cid, step, v = _meta_case(sub.meta), ResolvedStep(sub.meta.get("step")), sub.values
    _publish(s, sub.rt, cases.tick_step(s, sub.actor, cid, step, note=v.get("note"),
                                        customer_agreed=v.get("customer_agreed"), root_cause=v.get("root_cause"),
                                        now=sub.rt.now()))
    return None


@form(CaseForm.DISMISS, lambda s, rt, meta: cm.dismiss_form(_meta_case(meta)))
def _dismissed(s: Session, sub: Submission) -> Outcome:
    _publish(s, sub.rt, cases.dismiss(s, sub.actor, _meta_case(sub.meta), reason=sub.values.get("reason") or "",
                                      now=sub.rt.now()))
    return None


@form(CaseForm.REOPEN, lambda s, rt, meta: cm.reopen_form(_meta_case(meta)))
def _reopened(s: Session, sub: Submission) -> Outcome:
    _publish(s, sub.rt, cases.reopen(s, sub.actor, _meta_case(sub.meta), reason=sub.values.get("reason") or "",
                                     now=sub.rt.now()))
    return None


def _rebuild_reassign(s: Session, rt: Runtime, meta: dict[str, Any]) -> Form:
    assignee = meta.get("assignee")
    person = person_ref(member_by_id(s, int(assignee))) if assignee else None
    return cm.reassign_form(_meta_case(meta), person)


@form(CaseForm.REASSIGN, _rebuild_reassign)
def _reassigned(s: Session, sub: Submission) -> Outcome:
    cid = _meta_case(sub.meta)
    assignee = member_by_id(s, int(sub.meta["assignee"]))
    _publish(s, sub.rt, cases.assign(s, sub.actor, cid, assignee, reason=sub.values.get("reason"), now=sub.rt.now()))
    return None


@form(CaseForm.SNOOZE, lambda s, rt, meta: cm.snooze_form(_meta_case(meta)))
def _snoozed(s: Session, sub: Submission) -> Outcome:
    from bot.config import parse_duration

    cid, ws = _meta_case(sub.meta), sub.rt.workspace
    case = cases.get_case(s, cid)
    sla = ws.sla_for(case.team) if case.team in {t.key for t in ws.teams} else ws.sla
    try:
        until = sub.rt.now() + parse_duration(sub.values.get("for") or "")
    except ValueError:
        raise BadInput("Choose how long to snooze for.", field="for") from None
    _publish(s, sub.rt, cases.snooze(s, sub.actor, cid, until=until, reason=sub.values.get("reason") or "",
                                     max_snooze=sla.snooze_max, now=sub.rt.now()))
    return None


@form(CaseForm.CLOSE_LOOP, lambda s, rt, meta: cm.close_loop_form(_meta_case(meta), rt.now()))
def _loop_closed(s: Session, sub: Submission) -> Outcome:
    v = sub.values
    when = datetime.fromtimestamp(int(v["when"]), tz=timezone.utc) if v.get("when") else None
    _publish(s, sub.rt, cases.close_loop(s, sub.actor, _meta_case(sub.meta), how=v.get("how") or "", when=when,
                                         note=v.get("note"), now=sub.rt.now()))
    return None


# --- the managers' console: paged lists ------------------------------------------------------


def _register_console() -> None:
    try:
        from bot.console.commands import PAGE_ACTION
    except ImportError:  # pragma: no cover - the console is an extension
        return

    @action(PAGE_ACTION)
    def _page(s: Session, c: Click) -> Outcome:
        line = f"{c.value.get('cmd', '')} page {int(c.value.get('page', 1))}"
        return commands.dispatch(s, c.rt.workspace, c.actor, line, now=c.rt.now()).message


# --- recognition and Customer Service Week ---------------------------------------------------


def _register_recognition() -> None:
    try:
        from bot.recognition import csweek
        from bot.recognition import shoutouts as recognition
        from bot.recognition import messages as rm
        from bot.recognition.messages import RecognitionAction, RecognitionForm
    except ImportError:  # pragma: no cover - recognition is an extension
        return

    @action(RecognitionAction.APPROVE.value)
    def _approve(s: Session, c: Click) -> Outcome:
        row = recognition.decide_shoutout(s, c.rt.workspace, c.actor, int(c.value["shoutout"]), approve=True,
                                          now=c.rt.now())
        return f"Posted in the {recognition.team_title(c.rt.workspace, row.team or '')} channel."

    @action(RecognitionAction.SKIP.value)
    def _skip(s: Session, c: Click) -> Outcome:
        recognition.decide_shoutout(s, c.rt.workspace, c.actor, int(c.value["shoutout"]), approve=False,
                                    now=c.rt.now())
        return "Skipped: that shout-out won't be posted."

    @action(RecognitionAction.PLEDGE.value)
    def _pledge(s: Session, c: Click) -> Outcome:
        return csweek.take_pledge(s, c.rt.workspace, c.actor, year=int(c.value["year"]), team=str(c.value["team"]),
                                  now=c.rt.now())

    @action(RecognitionAction.STORY.value)
    def _story(s: Session, c: Click) -> Outcome:
        return csweek.story_form(c.rt.workspace, c.actor, year=int(c.value["year"]), team=str(c.value["team"]),
                                 now=c.rt.now())

    def rebuild(s: Session, rt: Runtime, meta: dict[str, Any]) -> Form:
        return rm.story_form(int(meta["year"]), str(meta["team"]))

    @form(RecognitionForm.STORY.value, rebuild)
    def _shared(s: Session, sub: Submission) -> Outcome:
        csweek.share_story(s, sub.rt.workspace, sub.actor, year=int(sub.meta["year"]), team=str(sub.meta["team"]),
                           text=sub.values.get("story"), now=sub.rt.now())
        return "📖 Thank you! Your story is in the thread."


# --- the assistant's reply draft ----------------------------------------------------------


def _register_assist() -> None:
    try:
        from bot.assist import Draft, DraftInput
        from bot.assist.messages import AssistAction, AssistForm, draft_form
        from bot.assist.service import assistant_for
    except ImportError:  # pragma: no cover - the assistant is an extension
        return

    @action(AssistAction.DRAFT.value)
    def _draft(s: Session, c: Click) -> Outcome:
        cid = _case_id(c.value)
        _owner_or_manager(c.actor, cases.get_case(s, cid), "draft a reply on")
        inp = DraftInput.from_view(cases.load_view(s, c.rt.workspace, cid))
        # This runs inside the interaction's transaction: a cached model draft or the offline one, no network.
        draft = assistant_for(c.rt.settings, c.rt.engine, c.rt.workspace).draft_reply(inp, ask_model=False)
        # A Teams dialog cannot be updated in place: no Regenerate/Discard; closing it discards.
        return draft_form(cid, draft, controls=False)

    def rebuild(s: Session, rt: Runtime, meta: dict[str, Any]) -> Form:
        return draft_form(_meta_case(meta), Draft(text="", method="offline"), controls=False)

    @form(AssistForm.DRAFT.value, rebuild)
    def _done(s: Session, sub: Submission) -> Outcome:
        return None  # Done: the owner sends the reply themselves; nothing is stored or sent


_register_console()
_register_recognition()
_register_assist()
