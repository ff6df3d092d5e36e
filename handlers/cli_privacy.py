"""`cxloop privacy export|erase --email EMAIL | --customer-id ID`: a customer's request to see or erase
their data (GDPR articles 15 and 17), answered from the command line.

Exit status: 0 done; 2 a bad argument, a missing CXLOOP_PRIVACY_KEY, or an erasure not confirmed
(nothing changed); the reason on stderr.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bot.config import Workspace
    from bot.privacy.holdings import Subject


class NotConfirmed(Exception):
    """An erasure was not confirmed: nothing was changed."""


def configure(parser: argparse.ArgumentParser) -> None:
    """`privacy export` and `privacy erase`, each with --email / --customer-id."""
    sub = parser.add_subparsers(dest="privacy_command", required=True, metavar="ACTION")
    ex = sub.add_parser("export", help="print one JSON document with everything held about a customer")
    er = sub.add_parser("erase", help="erase a customer's data everywhere it went (chat messages are edited)")
    for p in (ex, er):
        p.add_argument("--email", help="the customer's email address")
        p.add_argument("--customer-id", dest="customer_id", help="the customer's id in the survey tool")
    er.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def subject_of(args: argparse.Namespace) -> Subject:
    from bot.privacy.holdings import Subject

    return Subject.of(email=args.email, customer_id=args.customer_id)


def run(args: argparse.Namespace, engine: Engine, ws: Workspace) -> int:
    from bot.errors import BadInput

    try:
        subject = subject_of(args)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.privacy_command == "export":
        from bot.privacy.export import export

        doc = export(engine, subject)
        print(json.dumps(doc, ensure_ascii=False, indent=2, default=str))
        if not doc["responses"]:
            print("note: no survey response is held under that email or customer id", file=sys.stderr)
        return 0
    from bot.privacy.erase import erase

    who = " and ".join(f"{k} {v}" for k, v in (("email", subject.email), ("customer id", subject.customer_id)) if v)
    if not args.yes:
        if not sys.stdin.isatty():
            print(f"error: erasing {who} cannot be undone; add --yes to confirm", file=sys.stderr)
            return 2
        answer = input(f"Erase everything held about {who}, everywhere? This cannot be undone. Type 'erase': ")
        if answer.strip().lower() != "erase":
            print("Nothing was erased.", file=sys.stderr)
            return 2
    result = erase(engine, ws, subject, actor_id=None, via=f"cli:{_user()}")
    print(json.dumps({"erased": result.found, "counts": result.counts, "audit_entry": result.audit_id}))
    if not result.found:
        print("note: no survey response was held under that email or customer id; copies elsewhere were looked "
              "for and their identity remembered", file=sys.stderr)
    return 0


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in a container: the audit entry still says it came from the command line
        return "unknown"
