"""Pure builders for reminders, overdue notices, escalations and the unclaimed prompt."""

from __future__ import annotations

from datetime import datetime

from bot.cases import messages as cm
from bot.cases.enums import CaseAction
from bot.cases.service import CaseView
from bot.chat.messages import (
    Actions,
    Button,
    Context,
    Header,
    Mention,
    Message,
    PersonRef,
    Section,
    Span,
    bold,
    plain,
)

KIND_TEXT = {
    "respond": "first response to the customer",
    "resolve": "resolution",
}


def _ago(delta_seconds: float) -> str:
    mins = int(abs(delta_seconds) // 60)
    if mins < 60:
        return f"{mins} min"
    hours = mins // 60
    if hours < 48:
        return f"{hours} h {mins % 60:02d} min" if mins % 60 else f"{hours} h"
    return f"{hours // 24} days"


def _case_line(view: CaseView) -> list[Span]:
    r = view.response
    return [plain(f"{cm.survey_label(r.survey, r.score)} from {r.customer_name or 'an anonymous customer'} "
                  f"({r.touchpoint or 'no touchpoint'}) · {view.team_title}")]


def _owner_actions(view: CaseView) -> Actions:
    cid = view.case.id
    assert cid is not None
    els: list = []
    nxt = view.next_step
    if nxt:
        els.append(cm.step_button(cid, nxt))
    els.append(Button(action=CaseAction.SNOOZE.value, label="Snooze…", value={"case": cid}))
    return Actions(elements=els)


def owner_nudge(view: CaseView, what: str, due_at: datetime, now: datetime, *, overdue: bool) -> Message:
    """To the owner: what is due, since when, and the next RESOLVED step one click away."""
    cid = view.case.id
    label = KIND_TEXT[what]
    if overdue:
        head = f"⚠️ Case #{cid}: the {label} is overdue"
        when_line: list[Span] = [plain("Due "), cm.when(due_at), plain(f" — overdue by {_ago((now - due_at).total_seconds())}.")]
    else:
        head = f"⏰ Case #{cid}: {label} due soon"
        when_line = [plain("Due "), cm.when(due_at), plain(f" — in {_ago((due_at - now).total_seconds())}.")]
    nxt = view.next_step
    blocks = [Header(text=head), Section(spans=_case_line(view)), Section(spans=when_line)]
    if nxt:
        blocks.append(Context(spans=[plain(f"Next RESOLVED step: {nxt.number}. {nxt.guide.title} — {nxt.guide.hint}")]))
    blocks.append(_owner_actions(view))
    return Message(text=head, blocks=blocks)


def escalation(view: CaseView, what: str, due_at: datetime, now: datetime) -> Message:
    """To the team's managers: a case stays overdue."""
    cid = view.case.id
    assert cid is not None
    owner: list[Span] = [Mention(person=view.owner)] if view.owner else [plain("nobody")]
    head = f"🚨 Case #{cid} is still overdue"
    blocks = [Header(text=head), Section(spans=_case_line(view)),
              Section(spans=[plain(f"The {KIND_TEXT[what]} was due "), cm.when(due_at),
                             plain(f" ({_ago((now - due_at).total_seconds())} ago). Owner: "), *owner, plain(".")]),
              Actions(elements=[Button(action=CaseAction.REMIND_OWNER.value, label="Ask the owner for an update",
                                       value={"case": cid}),
                                *( [cm.step_button(cid, view.next_step, primary=False)] if view.next_step else [])])]
    return Message(text=head, blocks=blocks)


def escalation_note(what: str, due_at: datetime, managers: list[PersonRef]) -> Message:
    spans: list[Span] = [plain(f"Escalated: the {KIND_TEXT[what]} is overdue (was due "), cm.when(due_at), plain("). Told ")]
    for i, m in enumerate(managers):
        spans += [plain(", " if i else ""), Mention(person=m)]
    spans.append(plain("."))
    return Message(text="Case escalated to the managers", blocks=[Section(spans=spans)])


def unclaimed_prompt(view: CaseView, now: datetime) -> Message:
    cid = view.case.id
    assert cid is not None
    waited = _ago((now - view.case.opened_at).total_seconds())
    return Message(text=f"Case #{cid} needs an owner", broadcast=True, blocks=[
        Section(spans=[bold(f"👋 Case #{cid} has waited {waited} for an owner. "), *_case_line(view)]),
        Actions(elements=[Button(action=CaseAction.TAKE.value, label="Take it", value={"case": cid}, style="primary")])])


def snooze_note(until: datetime, reason: str) -> list[Span]:
    return [plain("snoozed reminders until "), cm.when(until), plain(f": {reason}")]
