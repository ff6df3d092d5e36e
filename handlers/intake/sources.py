"""One parser per survey tool: authenticate a webhook delivery and turn it into `ResponseIn`s.

Every parser has the same shape::

    parse_<source>(body: bytes, headers: Mapping[str, str], *, settings, workspace, now) -> Parsed

and either returns a `Parsed` or raises an `IntakeError` whose `status` is the HTTP status to answer
(400 unreadable body, 401 bad or missing signature, 413 too large, 422 invalid fields) and whose
`as_dict()` is the JSON body to answer with. Nothing else escapes. The checks run in that order:
signature first (on the raw bytes), then the body, then the fields, so an unsigned request learns
nothing about what a valid body looks like.

Intake fails closed: a source answers 401 unless its secret is set and the signature checks out:
`CXLOOP_WEBHOOK_SECRET` (generic), `CXLOOP_DELIGHTED_SECRET` (the Delighted project's API key),
`CXLOOP_TYPEFORM_SECRET` (the webhook's secret), `CXLOOP_FORMBRICKS_SECRET` (the webhook's
`whsec_...` signing secret). `CXLOOP_ALLOW_UNSIGNED_WEBHOOKS=1` lets a source without its secret
take unsigned deliveries, for local traffic only (the demo, a sandbox); even then a Delighted
`survey_response.updated`, which rewrites a stored comment, must be signed.

Which events are stored (anything else comes back as `Parsed.ignored`, not as an error):

- generic: every delivery (one JSON object, the shape in README.md, "Survey intake").
- delighted: `survey_response.created`, and `survey_response.updated` with `update_existing=True`
  (Delighted sends the comment in the update; it belongs to the response already stored, and must
  never open a second case). `unsubscribe.created` and unknown events are ignored.
- typeform: `form_response`. `form_response_partial` (partial responses) and other events are
  ignored: a typeform is stored once it is submitted.
- formbricks: any event (`responseCreated`, `responseUpdated`, `responseFinished`) whose response
  is `finished`. Unfinished responses are ignored: Formbricks sends `responseFinished` once the
  respondent completes the survey (and a one-page survey is finished at `responseCreated`), so
  nothing is lost and no half-answered response opens a case. The same response arriving under
  two events is one response (the store is idempotent on source and external id).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from bot.config import Settings, Workspace
from handlers.intake.delighted import parse_delighted
from handlers.intake.formbricks import parse_formbricks
from handlers.intake.generic import parse_generic
from handlers.intake.parsing import (
    DELIGHTED,
    FORMBRICKS,
    GENERIC,
    SOURCES,
    TYPEFORM,
    Parsed,
    Parser,
    UnknownSource,
)
from handlers.intake.typeform import parse_typeform

# ----------------------------------------------------------------------------------------------
# dispatch

PARSERS: dict[str, Parser] = {
    GENERIC: parse_generic,
    DELIGHTED: parse_delighted,
    TYPEFORM: parse_typeform,
    FORMBRICKS: parse_formbricks,
}


def parse_webhook(source: str, body: bytes, headers: Mapping[str, str], *, settings: Settings,
                  workspace: Workspace, now: datetime) -> Parsed:
    """Dispatch `POST /webhooks/{source}` to its parser; an unknown source is UnknownSource (404)."""
    parser = PARSERS.get(source)
    if parser is None:
        raise UnknownSource(f"no webhook source {source!r} (known: {', '.join(SOURCES)})")
    return parser(body, headers, settings=settings, workspace=workspace, now=now)
