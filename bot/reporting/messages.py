"""The weekly digest as a neutral message, and its 8-week chart: pure builders from the digest's figures."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from bot.assist.messages import summary_blocks
from bot.chat.messages import (
    Block,
    Context,
    FieldItem,
    Fields,
    Header,
    Image,
    Mention,
    Message,
    Quote,
    Section,
    Span,
    bold,
    plain,
)
from bot.intake.surveys import nps_category, score_sentiment
from bot.reporting.scores import delta

from bot.reporting.digest import CHART_NOTE, CaseFigures, CustomerQuote, DigestData

# --- the message (pure) ----------------------------------------------------------------------


def format_span(td: timedelta) -> str:
    """'45 min', '3 h 20 min', '4 d 1 h': how long something took, to the minute."""
    mins = max(0, int(round(td.total_seconds() / 60)))
    if mins < 60:
        return f"{mins} min"
    hours, rest = divmod(mins, 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _range(data: DigestData) -> str:
    a, b = data.first_day, data.last_day
    if a.year != b.year:
        return f"{a.day} {a:%b %Y} – {b.day} {b:%b %Y}"
    if a.month != b.month:
        return f"{a.day} {a:%b} – {b.day} {b:%b %Y}"
    return f"{a.day}–{b.day} {b:%b %Y}"


def _score_text(kind: str, value: float | int | None) -> str:
    if value is None:
        return "no answers"
    if kind == "nps":
        return f"{value:.1f}"
    if kind == "csat":
        return f"{value}%"
    return f"{value:.1f}%"


def _change(kind: str, now: float | int | None, before: float | int | None) -> str:
    if now is None:
        return ""
    if before is None:
        return " (no answers the week before)"
    d = delta(now, before)
    assert d is not None
    if d == 0:
        return " (= the week before)"
    amount = f"{abs(d):.0f}" if kind == "csat" else f"{abs(d):.1f}"
    unit = "" if kind == "nps" else " pts"
    return f" {'▲ +' if d > 0 else '▼ −'}{amount}{unit} vs. the week before"


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def _score_field(label: str, kind: str, now: float | int | None, before: float | int | None, answers: int,
                 detail: str) -> FieldItem:
    if not answers:
        was = "" if before is None else f"\n({_score_text(kind, before)} the week before)"
        return FieldItem(label=label, value=[plain("no answers this week" + was)])
    return FieldItem(label=label, value=[bold(_score_text(kind, now)), plain(_change(kind, now, before)),
                                         plain(f"\n{_plural(answers, 'answer')}{detail}")])


def _score_fields(data: DigestData) -> Fields:
    now, before = data.scores, data.previous
    nps, csat, ces = now.nps, now.csat, now.ces
    return Fields(items=[
        _score_field("NPS", "nps", nps.score, before.nps.score, nps.responses,
                     f": {_plural(nps.promoters, 'promoter')}, {_plural(nps.passives, 'passive')}, "
                     f"{_plural(nps.detractors, 'detractor')}"),
        _score_field("CSAT", "csat", csat.score, before.csat.score, csat.responses,
                     f", {csat.satisfied} satisfied (4–5)"),
        _score_field("CES", "ces", ces.score, before.ces.score, ces.responses, f", {ces.agree} found it easy (4–5)"),
    ])


def _case_fields(c: CaseFigures) -> Fields:
    def median(value: timedelta | None, n: int, none: str) -> list[Span]:
        if value is None:
            return [plain(none)]
        return [bold(format_span(value)), plain(f"\n{_plural(n, 'case')}")]

    loops: list[Span] = [bold(str(c.loops_closed))]
    if c.loops_closed:
        loops.append(plain(f"\n{c.loop_closure_rate}% within the resolve SLA ({c.loops_closed_in_sla} of {c.loops_closed})"))
    overdue: list[Span] = [bold(str(c.overdue))]
    if c.overdue:
        overdue.append(plain(f"\n{c.overdue_open} still open past a due time at the week's end · "
                             f"{c.resolved_late} resolved late"))
    return Fields(items=[
        FieldItem(label="Cases opened", value=[bold(str(c.opened))]),
        FieldItem(label="Resolved", value=[bold(str(c.resolved))]),
        FieldItem(label="Overdue", value=overdue),
        FieldItem(label="Loops closed", value=loops),
        FieldItem(label="Median time to first response",
                  value=median(c.median_first_response, c.first_responses, "no first responses this week")),
        FieldItem(label="Median time to resolution",
                  value=median(c.median_resolution, c.resolved, "no cases resolved this week")),
    ])


def _quote_label(q: CustomerQuote) -> str:
    scale = {"nps": "0–10", "csat": "1–5", "ces": "1–5"}.get(q.survey, "")
    if q.survey == "nps":
        kind = nps_category(q.score).value
    else:
        kind = {"positive": "happy", "negative": "unhappy"}.get(score_sentiment(q.survey, q.score), "neutral")
    return f"— {q.survey.upper()} {q.score} ({scale}), {kind}"


def _shoutout_blocks(data: DigestData) -> list[Block]:
    blocks: list[Block] = [Section(spans=[bold("🙌 Shout-outs this week")])]
    for sh in data.shoutouts:
        spans: list[Span] = [Mention(person=sh.to)]
        if sh.source == "customer":
            spans.append(plain(" — praised by a customer"))
        elif sh.source == "loop":
            spans.append(plain(" — for closing the loop"))
        elif sh.by is not None:
            spans += [plain(" — from "), Mention(person=sh.by)]
        blocks += [Section(spans=spans), Quote(text=sh.text, cut_from=sh.cut_from)]
    if data.more_shoutouts:
        blocks.append(Context(spans=[plain(f"…and {_plural(data.more_shoutouts, 'more shout-out')} this week.")]))
    return blocks


def _trend_series(data: DigestData) -> list[Any]:
    from bot.reporting.charts import Series

    return [
        Series("NPS", [w.scores.nps.score for w in data.trend], -100, 100, "", "#2b6cb0", 1),
        Series("CSAT", [w.scores.csat.score for w in data.trend], 0, 100, "%", "#2f855a", 0),
        Series("CES", [w.scores.ces.score for w in data.trend], 0, 100, "%", "#b7791f", 1),
    ]


def chart_png(data: DigestData) -> bytes:
    """The eight-week trend of NPS, CSAT and CES as a PNG (three small panels)."""
    from bot.reporting.charts import trend_png

    return trend_png([w.monday for w in data.trend], _trend_series(data),
                     title=f"{data.team_title}: the last {len(data.trend)} weeks")


def _has_trend(data: DigestData) -> bool:
    return any(w.scores.responses for w in data.trend)


def _trend_text(data: DigestData) -> str:
    return "\n".join(f"{x.name}: " + " · ".join("—" if v is None else x.label(v) for v in x.values)
                     for x in _trend_series(data))


def digest_message(data: DigestData, *, chart: bool = True) -> Message:
    """The team's weekly digest. `chart=False` (previews) gives the trend as text instead of an image."""
    title = data.team_title
    when = _range(data)
    blocks: list[Block] = [
        Header(text=f"📊 {title}: weekly digest"),
        Context(spans=[plain(f"Week of {data.first_day:%A} {data.first_day.day} {data.first_day:%B} to "
                             f"{data.last_day:%A} {data.last_day.day} {data.last_day:%B %Y} ({data.timezone})")]),
    ]
    if data.is_empty:
        empty = f"No survey answers and no case activity for {title} last week."
        blocks.append(Section(spans=[plain(empty)]))
        if data.cases.overdue_open:
            blocks.append(Section(spans=[plain(
                f"{_plural(data.cases.overdue_open, 'case was', 'cases were')} still open past a due time at the "
                "end of the week: `/cx overdue` lists them.")]))
        return Message(text=f"{title} weekly digest, {when}: {empty}", blocks=blocks)

    s = data.scores
    blocks.append(Section(spans=[bold("Scores")]))
    blocks.append(_score_fields(data))
    if _has_trend(data):
        if chart:
            png = chart_png(data)
            blocks.append(Image(filename=f"digest-{data.team}-{data.first_day.isoformat()}.png",
                                alt=f"{title}: NPS, CSAT and CES for the {len(data.trend)} weeks to "
                                    f"{data.last_day.day} {data.last_day:%b %Y}; gaps are weeks with no answers",
                                title=f"{title}: {len(data.trend)}-week trend",
                                png_base64=base64.b64encode(png).decode("ascii")))
        else:
            blocks.append(Context(spans=[plain(f"{CHART_NOTE} The last {len(data.trend)} weeks, oldest first:\n"
                                               + _trend_text(data))]))

    blocks.append(Section(spans=[bold("Cases")]))
    blocks.append(_case_fields(data.cases))
    if data.root_causes:
        blocks.append(Section(spans=[bold("Root causes documented:"), plain(
            " " + " · ".join(f"{cause.label} {n}" for cause, n in data.root_causes))]))

    if data.summary is not None:
        blocks += summary_blocks(data.summary)

    if data.quotes:
        blocks.append(Section(spans=[bold("💬 In the customers' words")]))
        for q in data.quotes:
            blocks += [Quote(text=q.text, cut_from=q.cut_from), Context(spans=[plain(_quote_label(q))])]

    if data.shoutouts:
        blocks += _shoutout_blocks(data)
    if data.loops_closed_well:
        spans: list[Span] = [bold("🔁 Loops closed well"), plain(" (within SLA): ")]
        for i, (who, n) in enumerate(data.loops_closed_well):
            if i:
                spans.append(plain(", "))
            spans.append(Mention(person=who))
            if n > 1:
                spans.append(plain(f" ×{n}"))
        spans.append(plain(". Thank you!"))
        blocks.append(Section(spans=spans))

    blocks.append(Context(spans=[plain(
        "Overdue: still open past a due time at the end of the week, or resolved after its resolve-by time. "
        "Within SLA: the customer was told before the case's resolve-by time. "
        "Managers: `/cx digest preview` shows this at any time.")]))
    text = (f"{title} weekly digest, {when}: NPS {_score_text('nps', s.nps.score)}, "
            f"CSAT {_score_text('csat', s.csat.score)}, CES {_score_text('ces', s.ces.score)}; "
            f"{_plural(data.cases.opened, 'case')} opened, {data.cases.loops_closed} loops closed")
    return Message(text=text, blocks=blocks)
