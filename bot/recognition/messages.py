"""Pure builders for recognition and Customer Service Week: from domain rows to neutral messages.

Words people typed (kudos, customer comments, stories) only ever travel in `Text` spans and
`Quote` blocks; names come from the roster and mentions from member ids.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time

from bot.cases import messages as cm
from bot.chat.messages import (
    Actions,
    Block,
    Button,
    Context,
    Divider,
    Form,
    Header,
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
from storage.models import SurveyResponse

MAX_LISTED = 20  # lines per list in a manager's DM before "…and N more"


class RecognitionAction(str, enum.Enum):
    """Action ids of recognition buttons (prefixed so they never collide with the case ones)."""

    APPROVE = "cx_shoutout_approve"
    SKIP = "cx_shoutout_skip"
    PLEDGE = "cx_csweek_pledge"
    STORY = "cx_csweek_story"


class RecognitionForm(str, enum.Enum):
    STORY = "cx_csweek_story_form"


# --- shout-outs ------------------------------------------------------------------------------


def peer_shoutout(giver: PersonRef, receiver: PersonRef, text: str) -> Message:
    """`/cx kudos`, as posted in the team channel: 🎉 @from → @to: text."""
    return Message(text=f"🎉 Kudos from {giver.label} to {receiver.label}", blocks=[
        Section(spans=[plain("🎉 "), Mention(person=giver), plain(" → "), Mention(person=receiver), plain(": "),
                       plain(text)])])


def _praise_context(response: SurveyResponse) -> Context:
    bits = [cm.survey_label(response.survey, response.score)]
    if response.touchpoint:
        bits.append(response.touchpoint)
    return Context(spans=[plain(" · ".join(bits) + " · "), cm.when(response.responded_at)])


def customer_shoutout(member: PersonRef, response: SurveyResponse) -> Message:
    """A customer's praise naming someone, posted in that person's team channel."""
    quote = cm.comment_preview(response.comment)
    blocks: list[Block] = [Section(spans=[plain("🌟 A customer praised "), Mention(person=member), plain("!")])]
    if quote:
        blocks.append(quote)
    blocks.append(_praise_context(response))
    return Message(text=f"🌟 A customer praised {member.label}", blocks=blocks)


def approval_request(shoutout_id: int, member: PersonRef, response: SurveyResponse, team_title: str) -> Message:
    """To the team's managers: post this customer shout-out in the channel, or skip it?"""
    preview = customer_shoutout(member, response)
    return Message(text=f"A customer praised {member.label}: post it to {team_title}?", blocks=[
        Header(text="🌟 Customer praise to approve"),
        Section(spans=[plain(f"Post this shout-out in the {team_title} channel?")]),
        *preview.blocks,
        Actions(elements=[
            Button(action=RecognitionAction.APPROVE.value, label="Approve", value={"shoutout": shoutout_id},
                   style="primary"),
            Button(action=RecognitionAction.SKIP.value, label="Skip", value={"shoutout": shoutout_id})])])


def approval_decided(member: PersonRef, response: SurveyResponse, team_title: str, *, approved: bool,
                     by: PersonRef) -> Message:
    """The approval DM once someone decided (its buttons gone)."""
    preview = customer_shoutout(member, response)
    verdict: list[Span] = ([plain(f"✅ Posted in the {team_title} channel — approved by "), Mention(person=by)]
                           if approved else [plain("⏭️ Skipped by "), Mention(person=by), plain(": not posted.")])
    return Message(text="Customer praise approved" if approved else "Customer praise skipped", blocks=[
        Header(text="🌟 Customer praise"), *preview.blocks, Section(spans=verdict)])


def kudos_reply(team_title: str) -> Message:
    return Message(text=f"Shout-out posted to the {team_title} channel",
                   blocks=[Section(spans=[plain(f"🎉 Shout-out posted to the {team_title} channel.")])])


# --- Customer Service Week -------------------------------------------------------------------

PLEDGE = ("I pledge to put the customer first: to listen before I answer, to treat every problem as mine "
          "until it is solved, never to hide behind \"it's our policy\", and to close the loop, "
          "so every customer knows they were heard.")


@dataclass(frozen=True)
class Game:
    name: str
    pitch: str
    how: str


GAMES: tuple[Game, ...] = (
    Game("Two Truths and a Lie",
         "Get to know the people behind the tickets.",
         "Reply in this thread with three short statements about yourself: two true, one a lie. Everyone "
         "else replies with their guess. Reveal your lie at the end of the day. Keep it kind and work-safe."),
    Game("Guess Who Owns This",
         "Everyone has a mug, a desk plant or a pet with a story.",
         "Post a photo of something that is yours (a mug, your desk, a pet, the view from your window) in this "
         "thread without saying whose it is. Everyone replies with their guess. The owner reveals at the end "
         "of the day."),
)


def game_for(year: int) -> Game:
    """The game changes every year, so the week doesn't repeat itself."""
    return GAMES[year % len(GAMES)]


def short_date(d: date) -> str:
    return f"{d:%a} {d.day} {d:%b}"


def week_label(monday: date) -> str:
    friday = date.fromordinal(monday.toordinal() + 4)
    return f"Mon {monday.day} – Fri {friday.day} {friday:%B %Y}"


def plan_lines(monday: date, year: int) -> list[str]:
    """One line per day of the week: what happens, for whom."""
    days = [date.fromordinal(monday.toordinal() + i) for i in range(5)]
    game = game_for(year)
    return [
        f"{short_date(days[0])} — Kick-off and the customer-service pledge: a “Take the pledge” button in "
        f"every team channel.",
        f"{short_date(days[1])} — Make it personal: thank-you notes, peer to peer with /cx kudos, and from "
        f"you to each person on your team (you'll get the list).",
        f"{short_date(days[2])} — Have fun and relieve stress: “{game.name}” in a thread in each channel.",
        f"{short_date(days[3])} — Show the love: you'll get the week's resolved cases and kudos so your thanks "
        f"can be specific; everyone is invited to share a customer story.",
        f"{short_date(days[4])} — Wrap-up: pledges taken, kudos given and stories shared, and the pledge recalled.",
    ]


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def heads_up(monday: date, year: int, teams: list[str], at: time, zone: str) -> Message:
    """To every manager, a week before: the week's plan, one line per day."""
    # Dated, not "next week": a DM held for someone's working hours may be read later than it was sent.
    head = f"📅 Customer Service Week is coming: {week_label(monday)}"
    return Message(text=head, blocks=[
        Header(text=f"📅 Customer Service Week starts {short_date(monday)}"),
        Section(spans=[plain(f"{week_label(monday)}. Each day at {at:%H:%M} ({zone}) cxloop posts that day's "
                             f"prompt in the {_and(teams)} channel{'s' if len(teams) > 1 else ''}. The plan:")]),
        Section(spans=[plain("\n".join("• " + line for line in plan_lines(monday, year)))]),
        Context(spans=[plain("The goal: celebrate, recognize and reward. Nothing to set up; you'll get a DM on "
                             "Tuesday and Thursday with what you need.")])])


DAY_TITLES = ("kick-off and the pledge", "make it personal: thank-you notes", "have fun and relieve stress",
              "show the love: customer stories", "wrap-up")


def _pledge_count(team_title: str, count: int) -> Context:
    if count == 0:
        return Context(spans=[plain("No one has taken the pledge yet: be the first!")])
    who = "1 person" if count == 1 else f"{count} people"
    return Context(spans=[plain(f"✋ {who} in {team_title} {'has' if count == 1 else 'have'} taken the pledge.")])


def kickoff(year: int, team: str, team_title: str, monday: date, pledged: int) -> Message:
    """Monday, in each team channel: kick-off and the pledge, with its button and running count."""
    return Message(text=f"🎉 Customer Service Week {year} starts today!", blocks=[
        Header(text=f"🎉 Customer Service Week {year} starts today!"),
        Section(spans=[plain(f"{week_label(monday)}: a week to celebrate, recognize and reward the people who "
                             f"look after our customers. Here's the week:")]),
        Section(spans=[plain("\n".join(f"• {short_date(date.fromordinal(monday.toordinal() + i))} — {title}"
                                       for i, title in enumerate(DAY_TITLES)))]),
        Section(spans=[bold("The customer-service pledge"), plain("\n"), plain(PLEDGE, style="italic")]),
        Actions(elements=[Button(action=RecognitionAction.PLEDGE.value, label="✋ Take the pledge",
                                 value={"year": year, "team": team}, style="primary")]),
        _pledge_count(team_title, pledged)])


def pledge_thanks(team_count: int, total: int) -> str:
    others = total - 1
    tail = f" You're one of {total} across the company." if others else " You're the first!"
    return f"✋ Thank you: your pledge is recorded.{tail}"


def thanks_day(year: int) -> Message:
    """Tuesday, in each team channel: thank-you notes, peer to peer."""
    return Message(text="💌 Customer Service Week: make it personal", blocks=[
        Header(text="💌 Today: make it personal"),
        Section(spans=[plain("Who made your week easier? Who helped a customer in a way you noticed? Tell them, "
                             "and tell the team: ")]),
        Section(spans=[plain("/cx kudos @name what they did", style="code"),
                       plain(" posts a thank-you here. Be specific: “for staying late to rebook Mrs Lee's "
                             "delivery” means more than “for being great”.")]),
        Context(spans=[plain(f"Customer Service Week {year} · day 2 of 5")])])


def manager_thanks(team_title: str, members: list[PersonRef]) -> Message:
    """Tuesday, to each manager, per team: thank each member, personally."""
    spans: list[Span] = []
    for i, m in enumerate(members):
        spans += [plain("\n" if i else ""), plain("• "), Mention(person=m)]
    body: list[Block] = [
        Header(text=f"💌 Thank your {team_title} team today"),
        Section(spans=[plain("It's thank-you-note day of Customer Service Week. Please thank each person on your "
                             "team personally, for something specific they did:")]),
    ]
    body.append(Section(spans=spans) if spans else Context(spans=[plain("(No members are listed for this team.)")]))
    body.append(Context(spans=[plain("A DM, a call or "), plain("/cx kudos @name what they did", style="code"),
                               plain(" (posted in the team channel) all count.")]))
    return Message(text=f"Thank your {team_title} team today", blocks=body)


def fun_day(year: int) -> Message:
    game = game_for(year)
    return Message(text=f"🎲 Customer Service Week: {game.name}", blocks=[
        Header(text="🎲 Today: have fun and relieve stress"),
        Section(spans=[plain("Today's game: "), bold(game.name), plain(f". {game.pitch} The rules are in the "
                                                                       f"thread below; join in there.")]),
        Context(spans=[plain(f"Customer Service Week {year} · day 3 of 5")])])


def fun_thread(year: int) -> Message:
    game = game_for(year)
    return Message(text=f"How to play {game.name}", blocks=[
        Section(spans=[bold(f"How to play {game.name}"), plain("\n" + game.how)])])


def love_day(year: int, team: str) -> Message:
    """Thursday, in each team channel: share a customer story."""
    return Message(text="💛 Customer Service Week: show the love", blocks=[
        Header(text="💛 Today: show the love"),
        Section(spans=[plain("Leaders are thanking their teams with specific examples today. Your turn: share a "
                             "customer story. A time you, or a colleague, made a real difference for a customer.")]),
        Actions(elements=[Button(action=RecognitionAction.STORY.value, label="📖 Share a customer story",
                                 value={"year": year, "team": team}, style="primary")]),
        Context(spans=[plain(f"Stories appear in this thread. Customer Service Week {year} · day 4 of 5")])])


@dataclass(frozen=True)
class ResolvedLine:
    case_id: int
    survey: str
    score: int
    touchpoint: str | None
    owner: PersonRef | None
    resolved_at: datetime
    loop_closed: bool
    within_sla: bool


@dataclass(frozen=True)
class KudosLine:
    to: PersonRef
    giver: PersonRef | None  # None: a customer's praise
    text: str
    at: datetime


def _listed(lines: list[list[Span]], empty: str) -> list[Block]:
    if not lines:
        return [Context(spans=[plain(empty)])]
    spans: list[Span] = []
    for i, line in enumerate(lines[:MAX_LISTED]):
        spans += [plain("\n" if i else ""), *line]
    out: list[Block] = [Section(spans=spans)]
    if len(lines) > MAX_LISTED:
        out.append(Context(spans=[plain(f"…and {len(lines) - MAX_LISTED} more.")]))
    return out


def _excerpt(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def manager_love(team_title: str, since: datetime, resolved: list[ResolvedLine], kudos: list[KudosLine]) -> Message:
    """Thursday, to each manager, per team: what to thank people for, specifically."""
    case_lines: list[list[Span]] = []
    for r in resolved:
        line: list[Span] = [bold(f"#{r.case_id}"), plain(f" {cm.survey_label(r.survey, r.score)}"
                                                         f"{' · ' + r.touchpoint if r.touchpoint else ''} — ")]
        line += [Mention(person=r.owner)] if r.owner else [plain("no owner")]
        line.append(plain(" resolved it"))
        if r.loop_closed:
            line.append(plain(" and closed the loop" + (" within SLA ✅" if r.within_sla else "")))
        case_lines.append(line)
    kudos_lines: list[list[Span]] = []
    for k in kudos:
        head: list[Span] = ([Mention(person=k.giver), plain(" → "), Mention(person=k.to), plain(": “")]
                            if k.giver else [plain("A customer praised "), Mention(person=k.to), plain(": “")])
        kudos_lines.append([*head, plain(_excerpt(k.text)), plain("”")])
    return Message(text=f"Show the love: what {team_title} did this week", blocks=[
        Header(text=f"💛 Show the love: {team_title}"),
        Section(spans=[plain("Thank your team today with specific examples. Since "), cm.when(since),
                       plain(" they did this:")]),
        Section(spans=[bold(f"Cases resolved ({len(resolved)})")]),
        *_listed(case_lines, "No cases resolved in the last seven days."),
        Divider(),
        Section(spans=[bold(f"Kudos and customer praise ({len(kudos)})")]),
        *_listed(kudos_lines, "No kudos yet this week: yours could be the first."),
    ])


def story_form(year: int, team: str, channel: str | None = None) -> Form:
    return Form(callback=RecognitionForm.STORY.value, title="A customer story", submit="Share",
                intro=[Section(spans=[plain("A time you, or a colleague, made a difference for a customer. It is "
                                            "posted in the team channel's thread with your name.")])],
                inputs=[TextInput(id="story", label="Your story", multiline=True, required=True, max_length=2000,
                                  hint="Leave out customers' names and details.")],
                metadata={"year": year, "team": team, **({"channel": channel} if channel else {})})


def story_post(author: PersonRef, text: str) -> Message:
    return Message(text=f"📖 A customer story from {author.label}", blocks=[
        Section(spans=[plain("📖 "), Mention(person=author), plain(" shared a customer story:")]),
        Quote(text=text)])


@dataclass(frozen=True)
class WeekStats:
    pledges_team: int
    pledges_all: int
    kudos_team: int
    kudos_all: int
    praise_team: int
    stories_team: int
    stories_all: int
    loops_team: int


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def wrap_up(year: int, team_title: str, stats: WeekStats) -> Message:
    """Friday, in each team channel: the week in numbers, and the pledge recalled."""
    lines = [
        f"✋ {_n(stats.pledges_team, 'pledge', 'pledges')} taken in {team_title} "
        f"({stats.pledges_all} across the company)",
        f"🎉 {_n(stats.kudos_team, 'thank-you note', 'thank-you notes')} given here "
        f"({stats.kudos_all} across the company)",
        f"🌟 {_n(stats.praise_team, 'customer shout-out', 'customer shout-outs')}",
        f"📖 {_n(stats.stories_team, 'customer story', 'customer stories')} shared here "
        f"({stats.stories_all} across the company)",
        f"✅ {_n(stats.loops_team, 'loop', 'loops')} closed within SLA",
    ]
    return Message(text=f"🏁 Customer Service Week {year}: thank you!", blocks=[
        Header(text=f"🏁 That's a wrap: Customer Service Week {year}"),
        Section(spans=[plain("This week in " + team_title + ":\n" + "\n".join(lines))]),
        Section(spans=[bold("Remember the pledge"), plain("\n"), plain(PLEDGE, style="italic")]),
        Context(spans=[plain("Thank you for everything you do for our customers, this week and every week.")])])
