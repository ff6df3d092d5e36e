"""Pure builders: from a case to the neutral messages and forms that show it."""

from __future__ import annotations

from collections.abc import Sequence

from datetime import datetime

from bot.cases.enums import CaseAction, CaseForm
from bot.assist.messages import draft_button, insight_context, response_insight
from bot.assist.results import Classification
from bot.cases.service import CaseView
from bot.chat.messages import (
    Actions,
    Block,
    Button,
    Checklist,
    ChecklistItem,
    CheckboxInput,
    Choice,
    ChoiceInput,
    Context,
    DateTimeInput,
    FieldItem,
    Fields,
    Form,
    Header,
    Mention,
    Message,
    PersonRef,
    Quote,
    Section,
    Span,
    Text,
    TextInput,
    UserPicker,
    When,
    bold,
    plain,
)
from bot.cases.resolved import STEPS, CaseStatus, LoopChannel, ResolvedStep, RootCause
from bot.intake.surveys import SurveyKind
from storage.models import CaseEvent

PREVIEW_CHARS = 1500
CHUNK_CHARS = 2500


def when(at: datetime | None) -> Text | When:
    if at is None:
        return plain("—")
    return When(epoch=int(at.timestamp()), fallback=at.strftime("%Y-%m-%d %H:%M UTC"))


def mask_email(email: str | None) -> str | None:
    """d…@example.com: enough to recognise, not enough to harvest (no '*', which is markup in Slack)."""
    if not email or "@" not in email:
        return email
    local, _, domain = email.partition("@")
    return f"{local[:1]}…@{domain}"


def severity(survey: str, score: int) -> tuple[str, str]:
    """(marker, label) for how bad a score is."""
    kind = SurveyKind(survey)
    worst = {SurveyKind.NPS: 3, SurveyKind.CSAT: 1, SurveyKind.CES: 1}[kind]
    if score <= worst:
        return "🔴", "Critical"
    return "🟠", "Detractor" if kind is SurveyKind.NPS else "Unhappy"


def survey_label(survey: str, score: int) -> str:
    scale = {"nps": "0–10", "csat": "1–5", "ces": "1–5"}[survey]
    return f"{survey.upper()} {score} ({scale})"


def customer_label(view: CaseView, *, mask: bool) -> str:
    r = view.response
    email = mask_email(r.customer_email) if mask else r.customer_email
    name = r.customer_name or "Anonymous customer"
    return f"{name} <{email}>" if email else name


def comment_preview(comment: str | None) -> Quote | None:
    if not comment:
        return None
    if len(comment) <= PREVIEW_CHARS:
        return Quote(text=comment)
    return Quote(text=comment[:PREVIEW_CHARS], cut_from=len(comment))


def _who(p: PersonRef | None) -> Span:
    return Mention(person=p) if p else plain("nobody")


def _summary(view: CaseView, *, mask: bool, insight: Classification | None = None) -> list[Block]:
    c, r = view.case, view.response
    marker, level = severity(r.survey, r.score)
    items = [
        FieldItem(label="Customer", value=[plain(customer_label(view, mask=mask))]),
        FieldItem(label="Touchpoint", value=[plain(r.touchpoint or "—")]),
        FieldItem(label="Came in", value=[when(r.responded_at)]),
        FieldItem(label="Status", value=[plain(view.status.label)]),
    ]
    if view.status.is_active:
        due_label, due_at = (("Respond by", c.respond_due_at) if c.first_response_at is None
                             else ("Resolve by", c.resolve_due_at))
        items.append(FieldItem(label=due_label, value=[when(due_at)]))
    items.append(FieldItem(label="Owner", value=[_who(view.owner)]))
    blocks: list[Block] = [
        Header(text=f"{marker} {survey_label(r.survey, r.score)} · {level} · case #{c.id}"),
        Fields(items=items),
    ]
    quote = comment_preview(r.comment)
    if quote:
        blocks.append(quote)
        if quote.cut_from:
            blocks.append(Context(spans=[plain(f"✂ Comment cut at {PREVIEW_CHARS:,} of {quote.cut_from:,} characters; "
                                               "the full text is in the thread.")]))
    else:
        blocks.append(Context(spans=[plain("No comment left.")]))
    line = insight_context(response_insight(r, insight))
    if line is not None:
        blocks.append(line)
    return blocks


def _progress(view: CaseView) -> Context:
    done = len(view.done)
    nxt = view.next_step
    spans: list[Span] = [plain(f"RESOLVED {done}/{len(STEPS)}")]
    if nxt and view.status.is_active:
        spans.append(plain(f" · next: {nxt.number}. {nxt.guide.title}"))
    spans.append(plain(f" · {view.team_title} · response {view.response.external_id} via {view.response.source}"))
    return Context(spans=spans)


def step_button(case_id: int, step: ResolvedStep, *, primary: bool = True) -> Button:
    return Button(action=CaseAction.STEP.value, label=f"{step.number}. {step.guide.title}"[:75],
                  value={"case": case_id, "step": step.value}, style="primary" if primary else None)


def _case_actions(view: CaseView, *, for_owner: bool = False) -> Actions | None:
    cid = view.case.id
    assert cid is not None
    els: list = []
    if view.status is CaseStatus.OPEN:
        els = [Button(action=CaseAction.TAKE.value, label="Take it", value={"case": cid}, style="primary"),
               UserPicker(action=CaseAction.ASSIGN.value, placeholder="Assign to…", value={"case": cid}),
               Button(action=CaseAction.DISMISS.value, label="Not actionable", value={"case": cid}, style="danger")]
    elif view.status is CaseStatus.IN_PROGRESS:
        nxt = view.next_step
        if nxt:
            els.append(step_button(cid, nxt))
        if for_owner:
            els.append(draft_button(cid))
        if not for_owner:
            els.append(UserPicker(action=CaseAction.REASSIGN.value, placeholder="Reassign to…", value={"case": cid}))
        else:
            els.append(Button(action=CaseAction.SNOOZE.value, label="Snooze reminders…", value={"case": cid}))
        els.append(Button(action=CaseAction.DISMISS.value, label="Not actionable", value={"case": cid}, style="danger"))
    elif view.status is CaseStatus.RESOLVED:
        els = [Button(action=CaseAction.CLOSE_LOOP.value, label="Close the loop with the customer",
                      value={"case": cid}, style="primary")]
    else:
        els = [Button(action=CaseAction.REOPEN.value, label="Reopen", value={"case": cid})]
    return Actions(elements=els) if els else None


def _fallback(view: CaseView, prefix: str) -> str:
    r = view.response
    return f"{prefix} case #{view.case.id}: {survey_label(r.survey, r.score)} ({view.team_title}) — {view.status.label}"


def alert_message(view: CaseView, *, mask: bool = True, insight: Classification | None = None,
                  notes: Sequence[Block] = ()) -> Message:
    """The case's message in its team channel, re-rendered whenever the case changes.

    `insight` is the response's stored themes; without it the offline ones are shown. `notes` are
    other features' lines about the case (the improvements it is part of).
    """
    blocks = _summary(view, mask=mask, insight=insight) + list(notes)
    blocks.append(_progress(view))
    if view.status is CaseStatus.CLOSED and view.case.loop_closed_how:
        blocks.append(Section(spans=[plain("✅ Loop closed "), plain(f"({LoopChannel(view.case.loop_closed_how).label.lower()}) "),
                                     when(view.case.loop_closed_at)]))
    if view.status is CaseStatus.DISMISSED:
        blocks.append(Section(spans=[bold("Not actionable: "), plain(view.case.close_reason or "")]))
    actions = _case_actions(view)
    if actions:
        blocks.append(actions)
    return Message(text=_fallback(view, "New" if view.status is CaseStatus.OPEN else "Update on"), blocks=blocks)


def checklist(view: CaseView) -> Checklist:
    done = {ResolvedStep(s.step): (s, p) for s, p in view.steps}
    nxt = view.next_step
    items = []
    for step in STEPS:
        rec = done.get(step)
        note = None
        if rec:
            s = rec[0]
            bits = []
            if s.customer_agreed:
                bits.append("customer agreed")
            if s.root_cause:
                bits.append(f"root cause: {RootCause(s.root_cause).label}")
            if s.note:
                bits.append(s.note)
            note = " — ".join(bits) or None
        items.append(ChecklistItem(key=step.value, title=f"{step.number}. {step.guide.title}", done=rec is not None,
                                   by=rec[1] if rec else None, epoch=int(rec[0].done_at.timestamp()) if rec else None,
                                   note=note, is_next=(step is nxt and view.status.is_active)))
    return Checklist(title="RESOLVED checklist", items=items)


def owner_message(view: CaseView, *, mask: bool = True, insight: Classification | None = None) -> Message:
    """The owner's DM: the case and its checklist, with the next step (and a reply draft) one click away."""
    blocks = _summary(view, mask=mask, insight=insight)
    blocks.append(checklist(view))
    nxt = view.next_step
    if nxt and view.status.is_active:
        blocks.append(Context(spans=[plain(f"Next: {nxt.guide.hint}")]))
    actions = _case_actions(view, for_owner=True)
    if actions:
        blocks.append(actions)
    return Message(text=_fallback(view, "You own"), blocks=blocks)


def full_comment_messages(view: CaseView) -> list[Message]:
    """The whole comment, in as many thread messages as it takes."""
    comment = view.response.comment or ""
    chunks = [comment[i:i + CHUNK_CHARS] for i in range(0, len(comment), CHUNK_CHARS)]
    per_message = 20
    out = []
    for n in range(0, len(chunks), per_message):
        part = chunks[n:n + per_message]
        head = Context(spans=[plain(f"Full comment ({len(comment):,} characters), part {n // per_message + 1} of "
                                    f"{(len(chunks) + per_message - 1) // per_message}")])
        out.append(Message(text=f"Full customer comment for case #{view.case.id}",
                           blocks=[head, *[Quote(text=c) for c in part]]))
    return out


EVENT_TEXT = {
    "opened": "Case opened.",
    "taken": "took the case.",
    "assigned": "assigned the case to",
    "auto_assigned": "Assigned by round-robin to",
    "reassigned": "reassigned the case to",
    "resolved": "All eight RESOLVED steps are done: the case is resolved. Next: close the loop with the customer.",
    "loop_closed": "closed the loop with the customer",
    "dismissed": "marked the case not actionable:",
    "reopened": "reopened the case:",
    "snoozed": "snoozed the reminders",
    "escalated": "Escalated to the team's managers.",
}


def event_message(view: CaseView, event: CaseEvent, actor: PersonRef | None, subject: PersonRef | None) -> Message:
    """One line of the case's history, for the alert's thread."""
    d = event.detail or {}
    who: list[Span] = [Mention(person=actor), plain(" ")] if actor else []
    k = event.kind
    if k == "step":
        step = ResolvedStep(d["step"])
        spans = [*who, plain(f"completed step {step.number}: "), bold(step.guide.title)]
        if d.get("root_cause"):
            spans.append(plain(f" (root cause: {RootCause(d['root_cause']).label})"))
        if d.get("note"):
            spans.append(plain(f" — {d['note']}"))
    elif k in ("assigned", "reassigned"):
        spans = [*who, plain(EVENT_TEXT[k] + " "), _who(subject)]
        if d.get("reason"):
            spans.append(plain(f": {d['reason']}"))
    elif k == "auto_assigned":
        spans = [plain(EVENT_TEXT[k] + " "), _who(subject), plain(".")]
    elif k == "loop_closed":
        how = LoopChannel(d["how"]).label.lower()
        spans = [*who, plain(f"{EVENT_TEXT[k]} ({how}).")]
        if d.get("note"):
            spans.append(plain(f" {d['note']}"))
    elif k == "snoozed":
        until = datetime.fromisoformat(d["until"])
        spans = [*who, plain("snoozed the reminders until "), when(until), plain(f": {d.get('reason', '')}")]
    elif k in ("dismissed", "reopened"):
        spans = [*who, plain(f"{EVENT_TEXT[k]} {d.get('reason', '')}")]
    elif k in ("resolved", "opened", "escalated"):
        spans = [plain(EVENT_TEXT[k])]
    else:
        spans = [*who, plain(EVENT_TEXT.get(k, k.replace("_", " ") + "."))]
    return Message(text=f"Case #{view.case.id}: {k.replace('_', ' ')}", blocks=[Section(spans=spans)])


# --- forms -----------------------------------------------------------------------------------


def step_form(cid: int, step: ResolvedStep) -> Form:
    inputs: list = []
    if step is ResolvedStep.VERIFY:
        inputs.append(CheckboxInput(id="customer_agreed", label="Customer's agreement", required=True,
                                    option="The customer agreed to the proposed solution"))
        inputs.append(TextInput(id="note", label="What did you agree?", multiline=True, required=False,
                                placeholder="If we do X, Y and Z, will that satisfy you?"))
    elif step is ResolvedStep.DOCUMENT:
        inputs.append(ChoiceInput(id="root_cause", label="Root-cause area",
                                  options=[Choice(value=c.value, label=c.label) for c in RootCause]))
        inputs.append(TextInput(id="note", label="What went wrong and how it is prevented", multiline=True,
                                required=True))
    else:
        inputs.append(TextInput(id="note", label="Note (optional)", multiline=True, required=False))
    intro: list[Block] = [Section(spans=[bold(f"Step {step.number} of 8: {step.guide.title}")]),
                          Context(spans=[plain(step.guide.hint)])]
    return Form(callback=CaseForm.STEP.value, title=f"Case #{cid} · step {step.number}", submit="Mark done",
                intro=intro, inputs=inputs, metadata={"case": cid, "step": step.value})


def dismiss_form(case_id: int) -> Form:
    return Form(callback=CaseForm.DISMISS.value, title=f"Not actionable #{case_id}", submit="Close case",
                inputs=[TextInput(id="reason", label="Why is this not actionable?", multiline=True, required=True,
                                  max_length=1000)],
                metadata={"case": case_id})


def reopen_form(case_id: int) -> Form:
    return Form(callback=CaseForm.REOPEN.value, title=f"Reopen case #{case_id}", submit="Reopen",
                inputs=[TextInput(id="reason", label="Why reopen it?", multiline=True, required=True,
                                  max_length=1000)],
                metadata={"case": case_id})


def reassign_form(case_id: int, assignee: PersonRef | None) -> Form:
    intro: list[Block] = [Section(spans=[plain("Reassign to "), Mention(person=assignee)])] if assignee else []
    return Form(callback=CaseForm.REASSIGN.value, title=f"Reassign case #{case_id}", submit="Reassign",
                intro=intro,
                inputs=[TextInput(id="reason", label="Reason", multiline=True, required=True, max_length=1000)],
                metadata={"case": case_id, "assignee": assignee.member_id if assignee else None})


def close_loop_form(case_id: int, now: datetime) -> Form:
    return Form(callback=CaseForm.CLOSE_LOOP.value, title=f"Close loop #{case_id}", submit="Loop closed",
                intro=[Section(spans=[plain("Record that you told the customer the problem is solved.")])],
                inputs=[ChoiceInput(id="how", label="How did you reach them?",
                                    options=[Choice(value=c.value, label=c.label) for c in LoopChannel]),
                        DateTimeInput(id="when", label="When", initial_epoch=int(now.timestamp())),
                        TextInput(id="note", label="Note (optional)", multiline=True, required=False)],
                metadata={"case": case_id})


SNOOZE_CHOICES = [("1h", "1 hour"), ("4h", "4 hours"), ("1d", "1 day"), ("2d", "2 days"), ("3d", "3 days")]


def snooze_form(case_id: int) -> Form:
    return Form(callback=CaseForm.SNOOZE.value, title=f"Snooze case #{case_id}", submit="Snooze",
                intro=[Context(spans=[plain("Reminders about this case pause until then; managers still see it.")])],
                inputs=[ChoiceInput(id="for", label="Snooze for", initial="4h",
                                    options=[Choice(value=v, label=lbl) for v, lbl in SNOOZE_CHOICES]),
                        TextInput(id="reason", label="Why?", multiline=True, required=True, max_length=1000)],
                metadata={"case": case_id})
