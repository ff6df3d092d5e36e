"""`/cx privacy erase EMAIL|CUSTOMER-ID` (admins): how much is held, and a button to the confirmation dialog."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from bot.chat.messages import Actions, Button, Context, Message, Section, bold, plain
from bot.config import Workspace
from bot.console.registry import Reply, command
from bot.errors import BadInput
from bot.people.roles import Role
from bot.people.roster import Actor
from bot.privacy.holdings import Subject, gather, responses_of
from bot.privacy.text import mask_email

ERASE_ACTION = "privacy_erase"
USAGE = "Say whose data, for example `/cx privacy erase dana@example.com` or `/cx privacy erase CUST-1042`."


def subject_from(word: str) -> Subject:
    """An email when it has an @, else a customer id."""
    return Subject.of(email=word) if "@" in word else Subject.of(customer_id=word)


def shown(subject: Subject) -> str:
    """The subject as chat may show it: a masked email, or the customer id."""
    return mask_email(subject.email) if subject.email else f"customer id {subject.customer_id}"


def held(session: Session, subject: Subject) -> tuple[int, int]:
    """(responses, cases) held under `subject`."""
    h = gather(session, responses_of(session, subject))
    return len(h.responses), len(h.cases)


@command("privacy", "privacy erase EMAIL|CUSTOMER-ID", "Erase a customer's data everywhere, on their request",
         Role.ADMIN)
def _privacy(session: Session, ws: Workspace, actor: Actor, args: list[str], now: datetime) -> Reply:
    if len(args) != 2 or args[0].lower() != "erase":
        raise BadInput(USAGE, field="email")
    subject = subject_from(args[1])
    responses, cases = held(session, subject)
    value = {k: v for k, v in (("email", subject.email), ("customer_id", subject.customer_id)) if v}
    what = (f"{responses} survey response{'s' if responses != 1 else ''} and {cases} case{'s' if cases != 1 else ''}"
            if responses else "no survey response (copies in notes, stories and chat are still looked for)")
    text = f"Erase the data of {shown(subject)}? cxloop holds {what}."
    return Reply(Message(text=text, blocks=[
        Section(spans=[bold("Erase a customer's data\n"), plain(text)]),
        Context(spans=[plain("Scores stay the same; chat messages that showed them are edited. It cannot be undone.")]),
        Actions(elements=[Button(action=ERASE_ACTION, label="Erase…", value=value, style="danger")])]),
        private=True)
