"""The assistant: themes and sentiment, reply drafts, digest summaries and staff names in praise.

From an OpenAI-compatible model when one is configured and healthy, from a full offline method
otherwise; every result says which answered. Results are data only: nothing here acts on a case or
contacts anyone. See `service.Assistant` for the rules and README "The assistant" for set-up.
"""

from bot.assist.drafts import DraftInput
from bot.assist.results import Classification, DigestSummary, Draft, Method, StaffNames, SummaryBullet
from bot.assist.service import (
    AssistOptions, Assistant, classify, draft_reply, is_off, staff_named, summarize_week,
)
from bot.assist.summary import CommentIn
from bot.assist.themes import DEFAULT_THEMES, OTHER, ThemeSet

__all__ = [
    "AssistOptions", "Assistant", "Classification", "CommentIn", "DEFAULT_THEMES", "DigestSummary", "Draft",
    "DraftInput", "Method", "OTHER", "StaffNames", "SummaryBullet", "ThemeSet", "classify", "draft_reply",
    "is_off", "staff_named", "summarize_week",
]
