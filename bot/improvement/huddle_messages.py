"""The weekly huddle post: a pure builder from the huddle's figures (bot/improvement/huddle.py)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.chat.messages import (
    Actions,
    Block,
    Button,
    Context,
    Header,
    Mention,
    Message,
    PersonRef,
    Quote,
    Section,
    bold,
    plain,
)
from bot.improvement.enums import ImproveAction
from bot.improvement.huddle import RECURS, TREND_MIN, WINDOW_WEEKS, HuddleData, Pattern


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def trend_words(now: int, before: int) -> str:
    """How a pattern moved: the last 4 weeks against the 4 before, or that the numbers are too small to say."""
    if max(now, before) < TREND_MIN:
        return f"{_plural(now, 'response')}: too few to call a trend"
    if before == 0:
        return f"new: none in the {WINDOW_WEEKS} weeks before"
    change = now - before
    if change == 0:
        return f"the same as the {WINDOW_WEEKS} weeks before ({before})"
    way = "▲ up" if change > 0 else "▼ down"
    return f"{way} {abs(change)} on the {WINDOW_WEEKS} weeks before ({before} → {now})"


def _pattern_blocks(data: HuddleData, p: Pattern, post: str) -> list[Block]:
    blocks: list[Block] = [
        Section(spans=[bold(f"{p.dimension.label}: {p.label}"),
                       plain(f" — {_plural(p.responses, 'detractor response')}, {_plural(p.cases, 'case')}")]),
    ]
    state = trend_words(p.responses, p.before)
    if p.covered_by is not None:
        num, title, stage = p.covered_by
        state += f" · covered by improvement #{num}, “{title}” ({stage})"
    else:
        state += " · no improvement covers it yet"
    blocks.append(Context(spans=[plain(state)]))
    blocks += [Quote(text=q) for q in p.quotes]
    if p.covered_by is None:
        value = {"team": data.team, "dim": p.dimension.value, "val": p.value, "n": p.responses, "post": post}
        blocks.append(Actions(elements=[
            Button(action=ImproveAction.START.value, label="Start an improvement", value=value, style="primary"),
            Button(action=ImproveAction.NOT_NOW.value, label="Not now", value=value)]))
    return blocks


def _range(data: HuddleData) -> str:
    zone = ZoneInfo(data.timezone)
    a = data.since.astimezone(zone).date()
    b = (data.until - timedelta(seconds=1)).astimezone(zone).date()
    return f"{a.day} {a:%b} to {b.day} {b:%b %Y}"


def huddle_message(data: HuddleData, *, post: str) -> Message:
    """The team's huddle post. `post` is its outbox key without the platform (buttons thread under it)."""
    title = data.team_title
    if data.quiet:
        aside = f" ({_plural(data.set_aside, 'pattern')} set aside with Not now.)" if data.set_aside else ""
        line = (f"🤝 {title} huddle: a quiet week. Nothing came up more than once in the {WINDOW_WEEKS} weeks to "
                f"{_range(data).split(' to ')[1]}.{aside}")
        return Message(text=line, blocks=[Section(spans=[plain(line)])])
    blocks: list[Block] = [
        Header(text=f"🤝 {title}: weekly huddle"),
        Context(spans=[plain(f"What kept going wrong from {_range(data)} (the last {WINDOW_WEEKS} full weeks), against "
                             f"the {WINDOW_WEEKS} weeks before: by root-cause area (the Document step), theme and "
                             f"touchpoint. Detractor responses are those that open a case; a pattern came up at least "
                             f"{RECURS} times.")]),
    ]
    for p in data.patterns:
        blocks += _pattern_blocks(data, p, post)
    notes = []
    if data.more:
        notes.append(f"{_plural(data.more, 'more pattern')} came up less often.")
    if data.set_aside:
        notes.append(f"{_plural(data.set_aside, 'pattern')} set aside with Not now: each returns if it grows.")
    notes.append("Start an improvement to fix one for good; Not now sets it aside until it grows.")
    blocks.append(Context(spans=[plain(" ".join(notes))]))
    top = data.patterns[0]
    return Message(text=f"{title} huddle: {_plural(len(data.patterns), 'recurring pattern')}, the most frequent "
                        f"{top.dimension.label.lower()} “{top.label}” ({_plural(top.responses, 'response')})",
                   blocks=blocks)


def set_aside_note(who: PersonRef, p_label: str, responses: int) -> Message:
    text = (f"set “{p_label}” aside for now. It comes back to the huddle if it grows past "
            f"{_plural(responses, 'response')} in {WINDOW_WEEKS} weeks.")
    return Message(text=f"{who.label} {text}", blocks=[Section(spans=[Mention(person=who), plain(" " + text)])])
