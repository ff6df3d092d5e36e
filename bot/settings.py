"""Process settings from environment variables (pydantic-settings), kept apart from the workspace YAML.

Only the commands that need them build Settings (handlers/cli.py): `cxloop --help` and
`cxloop scores` start without pydantic at all (bench/bench_cli_start.py).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError
from storage.location import DEFAULT_DATABASE_URL


class Settings(BaseSettings):
    """Process settings from environment variables (all optional)."""

    model_config = SettingsConfigDict(env_prefix="", extra="forbid", case_sensitive=False)

    database_url: str = DEFAULT_DATABASE_URL
    cxloop_config: Path | None = None
    cxloop_webhook_secret: str | None = None
    cxloop_delighted_secret: str | None = None
    cxloop_typeform_secret: str | None = None
    cxloop_formbricks_secret: str | None = None
    # Webhooks from a source without its secret are refused (401) unless this is set: for local
    # traffic only (the demo, the sandbox), never in production.
    cxloop_allow_unsigned_webhooks: bool = False
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str | None = None
    teams_app_id: str | None = None
    teams_app_password: str | None = None
    teams_app_tenant_id: str | None = None
    teams_app_type: str | None = None
    teams_allow_no_auth: bool = False
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    cxloop_assist: str = "on"
    # The secret erased customers are remembered under (bot/privacy/keys.py): a keyed hash of their email
    # and customer id, so a leaked database cannot be tested against guessed emails. Never change it.
    cxloop_privacy_key: str | None = None


def load_settings() -> Settings:
    """Settings from the environment; a value of the wrong type is a ConfigError naming its variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err.get("loc") else "a setting"
            problems.append(f"{name}={err.get('input')!r}: {err['msg']}")
        raise ConfigError("; ".join(problems)) from None
