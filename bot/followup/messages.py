"""Pure builders: follow-ups as the neutral messages and forms that show them."""

from __future__ import annotations

from datetime import date, datetime

from bot.cases.messages import mask_email, survey_label, when
from bot.chat.messages import (
    Actions,
    Block,
    Button,
    Checklist,
    ChecklistItem,
    Context,
    FieldItem,
    Fields,
    Form,
    Header,
    Link,
    Mention,
    Message,
    PersonRef,
    Quote,
    Section,
    Span,
    TextInput,
    bold,
    plain,
)
from bot.followup.rules import STEPS, Category, Status, Step, ask_text
from bot.followup.service import FollowUpView
from storage.models import SurveyResponse

TAKE = "followup_take"
STEP = "followup_step"
STEP_FORM = "form_followup_step"
PER_PAGE = 10  # follow-ups per post: three blocks each stay well inside Slack's 50
QUOTE_CHARS = 300


def customer_label(r: SurveyResponse, *, mask: bool) -> str:
    email = mask_email(r.customer_email) if mask else r.customer_email
    name = r.customer_name or "Anonymous customer"
    return f"{name} <{email}>" if email else name


def first_name(r: SurveyResponse) -> str:
    """How a note names the customer: their first name, else "The customer"."""
    words = (r.customer_name or "").split()
    return words[0] if words else "The customer"


def _quote(comment: str | None) -> Quote | None:
    if not comment or not comment.strip():
        return None
    if len(comment) <= QUOTE_CHARS:
        return Quote(text=comment)
    return Quote(text=comment[:QUOTE_CHARS], cut_from=len(comment))


def _headline(view: FollowUpView) -> str:
    r = view.response
    return f"#{view.id} {view.category.label} · {survey_label(r.survey, r.score)}"


# --- the daily post --------------------------------------------------------------------------


def _listing(view: FollowUpView, *, mask: bool) -> list[Block]:
    r = view.response
    blocks: list[Block] = [Section(spans=[bold(_headline(view)), plain(f" · {customer_label(r, mask=mask)}"
                                                                      f" · {r.touchpoint or 'no touchpoint'} · due "),
                                          when(view.follow_up.due_at)])]
    quote = _quote(r.comment)
    if quote:
        blocks.append(quote)
    if view.status is Status.OPEN:
        blocks.append(Actions(elements=[Button(action=TAKE, label="Take", value={"follow_up": view.id},
                                               style="primary")]))
    elif view.status is Status.IN_PROGRESS and view.owner:
        blocks.append(Context(spans=[plain("Taken by "), Mention(person=view.owner),
                                     plain(f" · {len(view.done)} of {len(STEPS)} steps done")]))
    else:
        blocks.append(Context(spans=[plain("✅ Done"), *([plain(" by "), Mention(person=view.owner)]
                                                          if view.owner else [])]))
    return blocks


def page_message(views: list[FollowUpView], *, team_title: str, day: date, page: int, pages: int, mask: bool,
                 waiting_before: int = 0) -> Message:
    """One page of a team's daily follow-up post: each follow-up with **Take** (or who has it)."""
    blocks: list[Block] = []
    if page == 1:
        blocks += [Header(text=f"🤝 {team_title}: follow-ups for {day:%A} {day.day} {day:%B}"),
                   Context(spans=[plain("Passives and promoters who answered since the last post. Take one, then "
                                        "thank them, ask, and record what they said.")])]
    for v in views:
        blocks += _listing(v, mask=mask)
    foot = []
    if pages > 1:
        foot.append(f"Page {page} of {pages}" + ("; the other pages are in the thread." if page == 1 else "."))
    if page == 1 and waiting_before:
        foot.append(f"{waiting_before} follow-up{'s' if waiting_before != 1 else ''} from earlier posts "
                    f"{'are' if waiting_before != 1 else 'is'} still waiting for someone.")
    if foot:
        blocks.append(Context(spans=[plain(" ".join(foot))]))
    return Message(text=f"{team_title}: {len(views)} follow-up(s), page {page} of {pages}", blocks=blocks)


# --- the owner's DM ----------------------------------------------------------------------------


def checklist(view: FollowUpView) -> Checklist:
    items = []
    nxt = view.next_step
    for step in STEPS:
        rec = view.step_row(step)
        items.append(ChecklistItem(key=step.value, title=f"{step.number}. {step.title}", done=rec is not None,
                                   by=rec[1] if rec else None, epoch=int(rec[0].done_at.timestamp()) if rec else None,
                                   note=rec[0].note if rec else None, is_next=step is nxt))
    return Checklist(title="Follow-up", items=items)


def step_button(view: FollowUpView, step: Step) -> Button:
    return Button(action=STEP, label=f"{step.number}. {step.title}", value={"follow_up": view.id, "step": step.value},
                  style="primary")


def owner_message(view: FollowUpView, *, mask: bool) -> Message:
    """The owner's DM: who answered what, the three steps, the next one a click away."""
    r, f = view.response, view.follow_up
    items = [FieldItem(label="Customer", value=[plain(customer_label(r, mask=mask))]),
             FieldItem(label="Touchpoint", value=[plain(r.touchpoint or "—")]),
             FieldItem(label="Came in", value=[when(r.responded_at)]),
             FieldItem(label="Status", value=[plain(view.status.label)])]
    if view.status is not Status.DONE:
        items.append(FieldItem(label="Due", value=[when(f.due_at)]))
    blocks: list[Block] = [Header(text=f"🤝 Follow-up {_headline(view)}"), Fields(items=items)]
    quote = _quote(r.comment)
    blocks.append(quote if quote else Context(spans=[plain("No comment left.")]))
    blocks.append(checklist(view))
    nxt = view.next_step
    if nxt is not None:
        blocks.append(Context(spans=[plain(f"Next: {hint(view, nxt)}")]))
        blocks.append(Actions(elements=[step_button(view, nxt)]))
    return Message(text=f"Follow-up #{view.id}: {view.category.label.lower()}, {survey_label(r.survey, r.score)} "
                        f"({view.team_title}) — {view.status.label}", blocks=blocks)


def hint(view: FollowUpView, step: Step) -> str:
    who = first_name(view.response)
    if step is Step.THANK:
        return f"thank {who if who != 'The customer' else 'them'} for their answer, in your own words."
    if step is Step.ASK:
        return f"ask: “{ask_text(view.kind, view.category, view.rule.review_url)}”"
    return "write down what they said, so the team can act on it."


def step_form(view: FollowUpView, step: Step) -> Form:
    """The form that ticks one step."""
    intro: list[Block] = [Section(spans=[bold(f"Step {step.number} of {len(STEPS)}: {step.title}")]),
                          Context(spans=[plain(hint(view, step)[0].upper() + hint(view, step)[1:])])]
    if step is Step.ASK and view.category is Category.PROMOTER and view.rule.review_url:
        intro.append(Section(spans=[plain("Review link to share: "),
                                    Link(url=view.rule.review_url, label=view.rule.review_url)]))
    if step is Step.RECORD:
        inputs = [TextInput(id="note", label="What did they say?", multiline=True, required=True, max_length=3000)]
    else:
        inputs = [TextInput(id="note", label="Note (optional)", multiline=True, required=False, max_length=3000)]
    return Form(callback=STEP_FORM, title=f"Follow-up #{view.id} · step {step.number}", submit="Mark done",
                intro=intro, inputs=inputs, metadata={"follow_up": view.id, "step": step.value})


# --- nudges --------------------------------------------------------------------------------------


def nudge_message(view: FollowUpView, now: datetime, *, overdue: bool) -> Message:
    """To the owner: the follow-up is due soon, or overdue; the next step one click away."""
    due = view.follow_up.due_at
    head = (f"⚠️ Follow-up #{view.id} is overdue" if overdue else f"⏰ Follow-up #{view.id} is due soon")
    r = view.response
    spans: list[Span] = [plain(f"{view.category.label} · {survey_label(r.survey, r.score)} from "
                               f"{r.customer_name or 'an anonymous customer'} · {view.team_title} · due "), when(due)]
    blocks: list[Block] = [Header(text=head), Section(spans=spans)]
    nxt = view.next_step
    if nxt is not None:
        blocks.append(Actions(elements=[step_button(view, nxt)]))
    return Message(text=head, blocks=blocks)


def owner_ref_line(owner: PersonRef | None) -> list[Span]:
    return [Mention(person=owner)] if owner else [plain("nobody")]
