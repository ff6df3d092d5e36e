"""Pure builders for what measurements say: check-ins, revisits, Act's invitations and questions,
regression alerts, and the plan actions' reminders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.chat.messages import (
    Actions,
    Block,
    Button,
    Context,
    Header,
    Image,
    Mention,
    Message,
    PersonRef,
    Section,
    Span,
    bold,
    plain,
)
from bot.improvement.enums import ImproveAction, Metric
from bot.improvement.measure import Comparison
from bot.improvement.messages import (
    points,
    when,
    baseline_words,
    change_words,
    counts,
    day_text,
    figure,
    metric_name,
    target_figure,
    target_words,
    tick_button,
)
from bot.improvement.service import ImprovementView
from storage.models import ImprovementAction

# --- measurements ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """One measurement, as posted: a weekly check-in, a Control revisit or the target date's verdict."""

    kind: str                 # check, revisit or target
    title: str
    since: datetime
    until: datetime
    comparison: Comparison
    met: bool
    cases: int
    regressed: bool = False


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def reading_message(view: ImprovementView, r: Reading) -> Message:
    imp, metric, c = view.imp, view.metric, r.comparison
    window = "since the change began" if r.kind != "revisit" else "since the last revisit"
    blocks: list[Block] = [
        Section(spans=[bold(f"📏 {r.title}")]),
        Section(spans=[bold(f"{_capital(metric_name(imp))} {window}: "), plain(f"{figure(metric, c.after.value)} "
                                                                     f"({counts(c.after, imp.theme)}), "),
                       when(r.since), plain(" to "), when(r.until)]),
        Section(spans=[bold("Baseline: "), plain(baseline_words(imp))]),
        Section(spans=[bold("Change: "), plain(change_words(c))]),
    ]
    if r.kind == "revisit":
        state = ("⚠️ back inside the baseline's range: the gain is slipping" if r.regressed else
                 "holding: still clear of the baseline's range" if c.enough else "too few answers to judge yet")
        blocks.append(Section(spans=[bold("Control: "), plain(state + ".")]))
    else:
        unit = " points" if metric is Metric.NPS else " pts"
        togo = "" if r.met or c.after.value is None else \
            f" ({points(metric, abs(imp.target_value - c.after.value), sign=False)}{unit} to go)"
        state = "met ✅" if r.met else ("not met yet" + togo if c.enough else "not judged yet")
        blocks.append(Section(spans=[bold("Target: "), plain(f"{target_words(imp)} — {state}")]))
    blocks.append(Context(spans=[plain(f"Cases in this segment since the change began: {r.cases}. "
                                       "The interval is 95%: a change whose interval leaves out zero is more than noise.")]))
    return Message(text=f"Improvement #{view.id}: {r.title}", blocks=blocks)


def chart_image(view: ImprovementView, png_base64: str, until: datetime) -> Image:
    return Image(filename=f"improvement-{view.id}-{until:%Y%m%d}.png",
                 alt=f"{metric_name(view.imp)} for the 8 weeks to {day_text(until.date())}, with a line where the change "
                     "began; gaps are weeks with no answers",
                 title=f"Improvement #{view.id}: the last 8 weeks", png_base64=png_base64)


def invite_message(view: ImprovementView, r: Reading) -> Message:
    """To the owners: the target is met; Control locks in the gain."""
    c = r.comparison
    head = f"🎯 Improvement #{view.id} met its target"
    return Message(text=head, blocks=[
        Section(spans=[bold(head), plain(f": {view.imp.title}. {metric_name(view.imp)} is "
                                         f"{figure(view.metric, c.after.value)} against a target of "
                                         f"{target_figure(view.metric, view.imp.target_value)} "
                                         f"({counts(c.after, view.imp.theme)}). Change: {change_words(c)}")]),
        Context(spans=[plain("Control locks in the gain: cxloop revisits the figures later and warns if they slip back.")]),
        Actions(elements=[Button(action=ImproveAction.TO_CONTROL.value, label="Move to Control",
                                 value={"improvement": view.id}, style="primary")])])


def missed_message(view: ImprovementView, r: Reading) -> Message:
    """To the owners and managers: the target date passed without the target met."""
    c = r.comparison
    imp = view.imp
    head = f"⏳ Improvement #{view.id} missed its target date"
    now = "the change has not begun" if imp.change_started_at is None else \
        f"{metric_name(imp)} is {figure(view.metric, c.after.value)} ({counts(c.after, imp.theme)}); {change_words(c)}"
    return Message(text=head, blocks=[
        Section(spans=[bold(head), plain(f" ({day_text(imp.target_date)}): {imp.title}. Target "
                                         f"{target_figure(view.metric, imp.target_value)}; {now}")]),
        Context(spans=[plain("Adjust the plan, or extend the date if the change needs longer to show.")]),
        Actions(elements=[Button(action=ImproveAction.EXTEND.value, label="Extend the target…",
                                 value={"improvement": view.id}, style="primary"),
                          Button(action=ImproveAction.ADD_ACTION.value, label="Add an action…",
                                 value={"improvement": view.id}),
                          Button(action=ImproveAction.MOVE.value, label="Move stage…", value={"improvement": view.id})])])


def regression_message(view: ImprovementView, r: Reading) -> Message:
    """To the team channel and the owners: a Control revisit found the gain slipping away."""
    c, imp = r.comparison, view.imp
    head = f"⚠️ Improvement #{view.id} is slipping back"
    return Message(text=f"{head}: {imp.title}", broadcast=True, blocks=[
        Section(spans=[bold(head), plain(f": {imp.title}. At its {r.title.lower()} {metric_name(imp)} was "
                                         f"{figure(view.metric, c.after.value)} ({counts(c.after, imp.theme)}), back "
                                         f"inside the baseline's range ({figure(view.metric, imp.baseline_low)} to "
                                         f"{figure(view.metric, imp.baseline_high)}).")]),
        Context(spans=[plain("Reopen it to find out what changed; it goes back to Plan.")]),
        Actions(elements=[Button(action=ImproveAction.REOPEN.value, label="Reopen the improvement",
                                 value={"improvement": view.id}, style="danger")])])


# --- plan actions' reminders -----------------------------------------------------------------


def _ago(seconds: float) -> str:
    mins = int(abs(seconds) // 60)
    if mins < 60:
        return f"{mins} min"
    hours = mins // 60
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} days"


def action_nudge(view: ImprovementView, act: ImprovementAction, now: datetime, *, overdue: bool) -> Message:
    """To the action's owner: it is due soon, or overdue, with Mark done and Snooze one click away."""
    if overdue:
        head = f"⚠️ Plan action overdue: “{act.title}”"
        when_line: list[Span] = [plain("Due "), when(act.due_at), plain(f" — overdue by {_ago((now - act.due_at).total_seconds())}.")]
    else:
        head = f"⏰ Plan action due soon: “{act.title}”"
        when_line = [plain("Due "), when(act.due_at), plain(f" — in {_ago((act.due_at - now).total_seconds())}.")]
    return Message(text=head, blocks=[
        Header(text=head[:150]),
        Section(spans=[plain(f"Improvement #{view.id}, “{view.imp.title}” ({view.team_title}, {view.stage.label}).")]),
        Section(spans=when_line),
        Actions(elements=[tick_button(act, label="Mark done"),
                          Button(action=ImproveAction.SNOOZE.value, label="Snooze…",
                                 value={"improvement": view.id, "action": act.id})])])


def action_escalation(view: ImprovementView, act: ImprovementAction, owner: PersonRef | None, now: datetime) -> Message:
    """To the team's managers: a plan action stays overdue."""
    head = f"🚨 Plan action still overdue: “{act.title}”"
    who: list[Span] = [Mention(person=owner)] if owner else [plain("nobody")]
    return Message(text=head, blocks=[
        Header(text=head[:150]),
        Section(spans=[plain(f"Improvement #{view.id}, “{view.imp.title}”. It was due "), when(act.due_at),
                       plain(f" ({_ago((now - act.due_at).total_seconds())} ago). Owner: "), *who, plain(".")]),
        Actions(elements=[tick_button(act, label="Mark done")])])


def escalation_note(act: ImprovementAction, managers: list[PersonRef]) -> Message:
    spans: list[Span] = [plain(f"Escalated: the plan action “{act.title}” is overdue (was due "), when(act.due_at),
                         plain("). Told ")]
    for i, m in enumerate(managers):
        spans += [plain(", " if i else ""), Mention(person=m)]
    spans.append(plain("."))
    return Message(text="Plan action escalated to the managers", blocks=[Section(spans=spans)])
