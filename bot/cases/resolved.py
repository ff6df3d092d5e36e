"""The RESOLVED complaint-handling steps, case statuses and root-cause areas."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ResolvedStep(str, enum.Enum):
    RESPOND = "respond"
    EMPATHIZE = "empathize"
    SOLVE = "solve"
    OPEN = "open"
    LISTEN = "listen"
    VERIFY = "verify"
    ELIMINATE = "eliminate"
    DOCUMENT = "document"

    @property
    def number(self) -> int:
        return STEPS.index(self) + 1

    @property
    def guide(self) -> "StepGuide":
        return GUIDES[self]


STEPS: list[ResolvedStep] = list(ResolvedStep)


@dataclass(frozen=True)
class StepGuide:
    title: str
    hint: str


GUIDES: dict[ResolvedStep, StepGuide] = {
    ResolvedStep.RESPOND: StepGuide("Respond to the person who is upset",
                                    "Reach out so they feel heard: person first, problem second."),
    ResolvedStep.EMPATHIZE: StepGuide("Empathize and apologize",
                                      "Acknowledge how they feel and apologize sincerely."),
    ResolvedStep.SOLVE: StepGuide("Seek to solve the problem",
                                  "Work out what would fix it. Never answer with \"it's our policy\"."),
    ResolvedStep.OPEN: StepGuide("Be open to the customer's proposed solution",
                                 "Ask what they would like to happen and take it seriously."),
    ResolvedStep.LISTEN: StepGuide("Listen intently", "Let them finish; note what matters most to them."),
    ResolvedStep.VERIFY: StepGuide("Verify the solution with the customer",
                                   "\"If we do X, Y and Z, will that satisfy you?\" Record their answer."),
    ResolvedStep.ELIMINATE: StepGuide("Eliminate the problem", "Act at once on the agreed solution."),
    ResolvedStep.DOCUMENT: StepGuide("Document the problem",
                                     "Record the root cause so it is tracked and prevented."),
}


class RootCause(str, enum.Enum):
    PERSONNEL = "personnel"
    PROCESSES = "processes"
    CUSTOMERS = "customers"
    FINANCIALS = "financials"

    @property
    def label(self) -> str:
        return ROOT_CAUSE_LABELS[self]


ROOT_CAUSE_LABELS = {
    RootCause.PERSONNEL: "Personnel",
    RootCause.PROCESSES: "Processes and technology",
    RootCause.CUSTOMERS: "Customers",
    RootCause.FINANCIALS: "Financials",
}


class CaseStatus(str, enum.Enum):
    OPEN = "open"              # waiting for an owner
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"      # all eight steps done, loop not yet closed
    CLOSED = "closed"          # loop closed with the customer
    DISMISSED = "dismissed"    # not actionable

    @property
    def label(self) -> str:
        return {"open": "Unclaimed", "in_progress": "In progress", "resolved": "Resolved",
                "closed": "Loop closed", "dismissed": "Not actionable"}[self.value]

    @property
    def is_active(self) -> bool:
        return self in (CaseStatus.OPEN, CaseStatus.IN_PROGRESS)


class LoopChannel(str, enum.Enum):
    """How the loop was closed with the customer."""

    PHONE = "phone"
    EMAIL = "email"
    CHAT = "chat"
    IN_PERSON = "in_person"
    OTHER = "other"

    @property
    def label(self) -> str:
        return {"phone": "Phone call", "email": "Email", "chat": "Chat / message",
                "in_person": "In person", "other": "Other"}[self.value]

