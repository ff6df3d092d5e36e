"""Pure builders: from an improvement and its figures to the neutral messages that show it."""

from __future__ import annotations

from datetime import date, datetime

from bot.cases import messages as cm
from bot.cases.resolved import RootCause
from bot.chat.messages import (
    Actions,
    Block,
    Button,
    Checklist,
    ChecklistItem,
    Context,
    FieldItem,
    Fields,
    Header,
    Mention,
    Message,
    PersonRef,
    Section,
    Span,
    bold,
    plain,
)
from bot.improvement.enums import ImproveAction, Metric, Stage
from bot.improvement.measure import Comparison, Measure
from bot.improvement.service import ImprovementView
from storage.models import Improvement, ImprovementAction, ImprovementEvent

PATH = (Stage.PLAN, Stage.DO, Stage.CHECK, Stage.ACT, Stage.CONTROL)
MAX_TICKS = 3  # action buttons on the post; the rest are ticked from their reminders or `/cx improve N`


# --- figures as words ------------------------------------------------------------------------


def figure(metric: Metric, value: float | None) -> str:
    if value is None:
        return "—"
    if metric is Metric.NPS:
        return f"{value:.1f}"
    if metric is Metric.CSAT:
        return f"{value:.0f}%"
    return f"{value:.1f}%"


def target_figure(metric: Metric, value: float) -> str:
    return f"{value:g}" if metric is Metric.NPS else f"{value:g}%"


def metric_name(imp: Improvement) -> str:
    metric = Metric(imp.metric)
    if metric is Metric.THEME_SHARE:
        return f"share of comments raising “{imp.theme}”"
    return metric.label


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def counts(m: Measure, theme: str | None = None) -> str:
    """'45 answers: 20 promoters, 17 passives, 8 detractors' and the like."""
    if m.metric is Metric.NPS:
        passives = m.n - m.hits - m.detractors
        return (f"{_plural(m.n, 'answer')}: {_plural(m.hits, 'promoter')}, {_plural(passives, 'passive')}, "
                f"{_plural(m.detractors, 'detractor')}")
    if m.metric is Metric.CSAT:
        return f"{_plural(m.n, 'answer')}, {m.hits:,} satisfied (4–5)"
    if m.metric is Metric.CES:
        return f"{_plural(m.n, 'answer')}, {m.hits:,} found it easy (4–5)"
    return f"{_plural(m.n, 'comment')}, {m.hits:,} raising “{theme}”"


def points(metric: Metric, value: float, *, sign: bool = True) -> str:
    text = f"{value:+.1f}" if sign else f"{value:.1f}"
    return text.replace("-", "−")


def change_words(c: Comparison) -> str:
    """The change against the baseline, its interval and what it means; or how many answers are still needed."""
    metric = c.after.metric
    if not c.after.n:
        return f"No answers yet since then: it needs {_plural(c.min_responses, 'more answer')} before the change can be judged."
    if not c.enough:
        return (f"Needs {_plural(c.needed, 'more answer')} before the change can be judged "
                f"({c.after.n:,} of {c.min_responses:,} so far).")
    if c.change is None:
        return "There was no baseline to compare with (no answers in the 8 weeks before)."
    unit = " points" if metric is Metric.NPS else " pts"
    text = f"{points(metric, c.change)}{unit}"
    iv = c.interval
    if iv is not None:
        text += f" (95% interval {points(metric, iv.low)} to {points(metric, iv.high)})"
    meaning = {"better": "more than noise: better", "worse": "more than noise: worse",
               "noise": "could still be noise"}.get(c.verdict or "", "")
    return f"{text}: {meaning}." if meaning else text + "."


def day_text(d: date) -> str:
    return f"{d:%a} {d.day} {d:%b %Y}"


def short_day(at: datetime, view: ImprovementView | None = None) -> str:
    """'4 Dec': the day of an instant, in the workspace time zone when the view is known."""
    local = at.astimezone(view.zone) if view is not None else at
    return f"{local.day} {local:%b}"


def target_words(imp: Improvement) -> str:
    return f"{Metric(imp.metric).label if imp.metric != 'theme_share' else 'Share'} " \
           f"{target_figure(Metric(imp.metric), imp.target_value)} by {day_text(imp.target_date)}"


def segment_words(imp: Improvement, team_title: str) -> str:
    bits = [team_title]
    if imp.touchpoint:
        bits.append(f"touchpoint {imp.touchpoint}")
    if imp.theme:
        bits.append(f"theme “{imp.theme}”")
    if imp.root_cause:
        try:
            bits.append(f"root cause {RootCause(imp.root_cause).label}")
        except ValueError:
            bits.append(f"root cause {imp.root_cause}")
    return " · ".join(bits)


def baseline_words(imp: Improvement) -> str:
    metric = Metric(imp.metric)
    base = Measure(metric=metric, n=imp.baseline_n, hits=imp.baseline_hits, detractors=imp.baseline_detractors)
    if not imp.baseline_n:
        return "no answers in the 8 weeks before it started"
    iv = "" if imp.baseline_low is None else \
        f", 95% interval {figure(metric, imp.baseline_low)} to {figure(metric, imp.baseline_high)}"
    return f"{figure(metric, imp.baseline_value)} ({counts(base, imp.theme)}{iv}; the 8 weeks to " \
           f"{day_text(imp.baseline_until.date())})"


def stage_words(stage: Stage) -> str:
    if stage in PATH:
        return " → ".join(f"[{s.label}]" if s is stage else s.label for s in PATH)
    return stage.label


def when(at: datetime) -> Span:
    return cm.when(at)


# --- the improvement's post ------------------------------------------------------------------


def _action_item(view: ImprovementView, act: ImprovementAction, owner: PersonRef | None) -> ChecklistItem:
    who = owner.label if owner else "someone"
    return ChecklistItem(key=str(act.id), title=f"{act.title} ({who}, due {short_day(act.due_at, view)})",
                         done=act.done_at is not None,
                         epoch=int(act.done_at.timestamp()) if act.done_at else None)


def tick_button(act: ImprovementAction, *, label: str | None = None) -> Button:
    return Button(action=ImproveAction.TICK.value, label=(label or f"✓ {act.title}")[:75],
                  value={"improvement": act.improvement_id, "action": act.id})


def _buttons(view: ImprovementView) -> Actions | None:
    stage = view.stage
    els: list = []
    if stage.is_open and stage is not Stage.CONTROL:
        els += [tick_button(a) for a, _ in view.open_actions[:MAX_TICKS]]
        els.append(Button(action=ImproveAction.ADD_ACTION.value, label="Add an action…", value={"improvement": view.id}))
    if stage is not Stage.CANCELLED:
        els.append(Button(action=ImproveAction.MOVE.value, label="Move stage…", value={"improvement": view.id},
                          style="primary" if stage is Stage.PLAN and view.actions else None))
    return Actions(elements=els) if els else None


def latest_words(view: ImprovementView) -> str:
    m = view.latest
    if m is None:
        return "not measured yet (the first check-in is a week after the change begins)"
    metric = view.metric
    what = "since the change began" if m.kind == "check" else f"over the {(m.until - m.since).days} days to the revisit"
    return f"{figure(metric, m.value)} {what} ({_plural(m.n, 'answer' if metric is not Metric.THEME_SHARE else 'comment')}), " \
           f"measured {short_day(m.at, view)}"


def improvement_message(view: ImprovementView, *, cases: int | None = None) -> Message:
    """The improvement's post in its team channel, edited in place as it changes."""
    imp = view.imp
    stage = view.stage
    items = [
        FieldItem(label="Stage", value=[plain(stage_words(stage))]),
        FieldItem(label="Owner" if len(view.owners) == 1 else "Owners",
                  value=[s for i, p in enumerate(view.owners) for s in ([plain(", ")] if i else []) + [Mention(person=p)]]
                  or [plain("nobody")]),
        FieldItem(label="Segment", value=[plain(segment_words(imp, view.team_title))]),
        FieldItem(label="Metric", value=[plain(metric_name(imp))]),
        FieldItem(label="Baseline", value=[plain(baseline_words(imp))]),
        FieldItem(label="Target", value=[plain(target_words(imp))]),
        FieldItem(label="Latest", value=[plain(latest_words(view))]),
    ]
    if cases is not None and imp.change_started_at is not None:
        items.append(FieldItem(label="Cases since the change began", value=[plain(str(cases))]))
    blocks: list[Block] = [Header(text=f"🔧 Improvement #{view.id}: {imp.title}"[:150]), Fields(items=items),
                           Section(spans=[bold("Problem: "), plain(imp.problem)])]
    if view.actions:
        blocks.append(Checklist(title="Plan", items=[_action_item(view, a, p) for a, p in view.actions]))
    elif stage is Stage.PLAN:
        blocks.append(Context(spans=[plain("No plan actions yet: add one (with an owner and a due date), then move "
                                           "to Do.")]))
    if stage is Stage.CANCELLED and imp.cancel_reason:
        blocks.append(Section(spans=[bold("Cancelled: "), plain(imp.cancel_reason)]))
    buttons = _buttons(view)
    if buttons:
        blocks.append(buttons)
    return Message(text=f"Improvement #{view.id} ({view.team_title}): {imp.title} — {stage.label}", blocks=blocks)


def summary_line(view: ImprovementView) -> list[Span]:
    """One line for lists: number, title, stage, owners, metric now against the baseline."""
    imp, metric = view.imp, view.metric
    spans: list[Span] = [bold(f"#{view.id}"), plain(f" {imp.title} · {view.stage.label} · ")]
    for i, p in enumerate(view.owners):
        spans += [plain(", ")] if i else []
        spans.append(Mention(person=p))
    now = "not measured yet" if view.latest is None else \
        f"{figure(metric, view.latest.value)} now ({_plural(view.latest.n, 'answer')})"
    spans.append(plain(f" · {metric_name(imp)} {now} vs {figure(metric, imp.baseline_value)} baseline "
                       f"({_plural(imp.baseline_n, 'answer')})"))
    return spans


EVENT_TEXT = {
    "started": "started this improvement",
    "action_done": "ticked",
    "action_snoozed": "snoozed the reminders of",
}
QUIET_EVENTS = {"check_in", "revisit", "target_met", "target_missed", "regression", "escalated"}


def event_message(view: ImprovementView, ev: ImprovementEvent, actor: PersonRef | None) -> Message | None:
    """One line of the improvement's history, for its thread (measurements post their own messages)."""
    if ev.kind in QUIET_EVENTS:
        return None
    d = ev.detail or {}
    who: list[Span] = [Mention(person=actor), plain(" ")] if actor else [plain("cxloop ")]
    if ev.kind == "started":
        spans = [*who, plain(EVENT_TEXT["started"])]
        if d.get("pattern"):
            spans.append(plain(f" from the huddle pattern {d['pattern'].replace(':', ' ').replace('_', ' ')}"))
        spans.append(plain("."))
    elif ev.kind == "stage":
        spans = [*who, plain(f"moved it from {Stage(d['from']).label} to "), bold(Stage(d["to"]).label)]
        spans.append(plain(f": {d['note']}" if d.get("note") else "."))
    elif ev.kind == "action_added":
        due = datetime.fromisoformat(d["due"])
        spans = [*who, plain(f"added a plan action: “{d.get('title', '')}”, due "), when(due), plain(".")]
    elif ev.kind in ("action_done", "action_snoozed"):
        spans = [*who, plain(f"{EVENT_TEXT[ev.kind]} “{d.get('title', '')}”")]
        if ev.kind == "action_snoozed":
            spans += [plain(" until "), when(datetime.fromisoformat(d["until"])), plain(f": {d.get('reason', '')}")]
        else:
            spans.append(plain("."))
    elif ev.kind == "target_changed":
        metric = view.metric
        spans = [*who, plain(f"set the target to {target_figure(metric, d['value'])} by "
                             f"{day_text(date.fromisoformat(d['date']))} (it was {target_figure(metric, d['old_value'])} "
                             f"by {day_text(date.fromisoformat(d['old_date']))})"),
                 plain(f": {d['note']}" if d.get("note") else ".")]
    else:
        spans = [*who, plain(ev.kind.replace("_", " ") + ".")]
    return Message(text=f"Improvement #{view.id}: {ev.kind.replace('_', ' ')}", blocks=[Section(spans=spans)])


def started_from_huddle(view: ImprovementView, actor: PersonRef | None) -> Message:
    who: list[Span] = [Mention(person=actor), plain(" ")] if actor else []
    return Message(text=f"Improvement #{view.id} started", blocks=[Section(spans=[
        *who, plain(f"started improvement #{view.id}, “{view.imp.title}”, for this. Its post in the channel "
                    "follows it through Plan, Do, Check, Act and Control.")])])
