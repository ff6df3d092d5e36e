"""One customer's data seeded through the real flows (webhook, case actions, chat), for the privacy tests;
and a full dump of the database (SQLite `.dump`, PostgreSQL `pg_dump`)."""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
from typing import Any

import aiohttp
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.cases.notify import publish_change
from bot.cases.resolved import ResolvedStep
from bot.cases.service import get_case, tick_step
from bot.config import Settings
from bot.people.roster import actor_for, member_by_slack
from bot.privacy import keys
from bot.reporting.scores import compute_scores
from handlers.intake.signing import sign_generic
from storage.db import session_scope
from storage.models import AssistResult, Shoutout, Story

KEY = "test-erasure-key-0123456789abcdef0123456789abcdef"
WEBHOOK_SECRET = "privacy-webhook-secret"
ENV = {"cxloop_privacy_key": KEY, "cxloop_webhook_secret": WEBHOOK_SECRET}

NAME, EMAIL, PHONE, CUSTOMER_ID = "Dana Whitfield", "dana.whitfield@example.org", "+44 7700 900461", "CUST-88412"
WORDS = "the courier left my parcel in the rain and nobody answered the phone for three days"
COMMENT = f"Awful. {WORDS.capitalize()}. Call me on {PHONE}."
SECRETS = (NAME, EMAIL, "900461", "parcel in the rain", CUSTOMER_ID)

OTHER_NAME, OTHER_EMAIL = "Omar Haddad", "omar.haddad@example.net"
OTHER_COMMENT = "The invoice arrived twice and the refund took weeks to come back"


def webhook_body(ext: str = "r-dana", *, email: str = EMAIL, responded_at: str = "2026-11-24T09:30:00Z") -> bytes:
    return json.dumps({"id": ext, "survey": "nps", "score": 2, "comment": COMMENT,
                       "customer": {"name": NAME, "email": email, "id": CUSTOMER_ID, "phone": PHONE},
                       "touchpoint": "phone", "responded_at": responded_at}).encode()


def dana_response(ext: str = "r-dana") -> Any:
    """Her answer as a parsed response (for record_response)."""
    from bot.intake.surveys import build_response

    return build_response({"source": "generic", "external_id": ext, "survey": "nps", "score": 2, "comment": COMMENT,
                           "customer_name": NAME, "customer_email": EMAIL, "customer_id": CUSTOMER_ID,
                           "touchpoint": "phone", "responded_at": "2026-11-24T09:30:00Z",
                           "raw": {"customer": {"phone": PHONE}}})


def other_body() -> bytes:
    return json.dumps({"id": "r-omar", "survey": "nps", "score": 1, "comment": OTHER_COMMENT,
                       "customer": {"name": OTHER_NAME, "email": OTHER_EMAIL}, "touchpoint": "phone",
                       "responded_at": "2026-11-24T11:00:00Z"}).encode()


async def post_webhook(base_url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        async with http.post(base_url.rstrip("/") + "/webhooks/generic", data=body,
                             headers={"X-Cxloop-Signature": sign_generic(body, WEBHOOK_SECRET)}) as r:
            return r.status, await r.json()


def work_the_case(engine: Engine, ws: Any, case_id: int, owner: str = "U0ALICE") -> None:
    """The owner's first step, with a note that names and quotes the customer (posted in the thread)."""
    with session_scope(engine) as s:
        actor = actor_for(s, member_by_slack(s, owner))
        ev = tick_step(s, actor, case_id, ResolvedStep.RESPOND,
                       note=f"Called {NAME} on {PHONE}: {WORDS}, she says.")
        publish_change(s, ws, get_case(s, case_id), ev)


def copies_elsewhere(engine: Engine, response_id: int, case_id: int) -> None:
    """A story and a colleague's kudos that quote her, and the assistant's cached answers about her."""
    with session_scope(engine) as s:
        alice = member_by_slack(s, "U0ALICE")
        bob = member_by_slack(s, "U0BOB")
        s.add(Story(member_id=bob.id, team="support", text=f"Remember {NAME}? {WORDS.capitalize()}. Alice fixed it."))
        s.add(Shoutout(team="support", to_member_id=alice.id, from_member_id=bob.id, source="peer",
                       text=f"Thanks for calling {NAME} back the same day"))
        s.add(AssistResult(subject=f"case:{case_id}", kind="summary", model="offline", prompt_version="1",
                           input_hash="x" * 64, payload={"summary": f"{NAME} is upset: {WORDS}."}))
        s.add(AssistResult(subject="digest:support:2026-11-23", kind="summary", model="offline", prompt_version="1",
                           input_hash="y" * 64, payload={"quotes": [WORDS]}))


def install_key() -> None:
    keys.install(Settings(cxloop_privacy_key=KEY))


def all_scores(engine: Engine) -> list[Any]:
    return [compute_scores(engine, by=by) for by in (None, "team", "touchpoint", "survey")]  # type: ignore[arg-type]


def dump(engine: Engine) -> str:
    """Every row of the database as the database's own dump tool writes it."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        try:
            return "\n".join(raw.driver_connection.iterdump())  # type: ignore[union-attr]
        finally:
            raw.close()
    pg_dump = shutil.which("pg_dump") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"))[-1:]), None)
    assert pg_dump, "pg_dump not found"
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return subprocess.run([pg_dump, "--data-only", url], capture_output=True, text=True, check=True).stdout


def found_in(text: str, secrets: tuple[str, ...] = SECRETS) -> list[str]:
    low = text.casefold()
    return [s for s in secrets if s.casefold() in low]


def rows(engine: Engine, model: Any) -> list[Any]:
    with Session(engine) as s:
        return list(s.exec(select(model)))
