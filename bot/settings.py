"""Process settings from environment variables.

Kept apart from the workspace YAML's models (bot/config.py) and read without pydantic or
pydantic-settings: every `cxloop` command builds Settings, and building any pydantic model first
costs about as much as a quick command's whole budget (bench/bench_cli_start.py). The fields are
flat (text, yes/no, whole numbers, numbers, paths, optional or not), so reading them takes little.
"""

from __future__ import annotations

import os
import typing
from collections.abc import Mapping
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, ClassVar

_TRUE = ("1", "true", "yes", "on", "y", "t")
_FALSE = ("0", "false", "no", "off", "n", "f")


class ConfigError(ValueError):
    """The workspace YAML or a setting is wrong; the message names the key or the variable."""


def _convert(name: str, kind: Any, value: str) -> Any:
    """The environment text `value` of setting `name` as the field's type; ConfigError naming it if not."""
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, UnionType) and NoneType in args:
        (kind,) = [a for a in args if a is not NoneType]
    try:
        if kind is str:
            return value
        if kind is bool:
            v = value.strip().lower()
            if v in _TRUE or v in _FALSE:
                return v in _TRUE
            raise ValueError("is not a yes/no value (1, true, yes, on / 0, false, no, off)")
        if kind is int:
            return int(value.strip())
        if kind is float:
            return float(value.strip())
        if kind is Path:
            return Path(value)
    except ValueError as exc:
        problem = str(exc) if kind is bool else f"is not a {'whole number' if kind is int else 'number'}"
        raise ConfigError(f"{name.upper()}={value!r} {problem}") from None
    raise TypeError(f"setting {name}: type {kind!r} is not supported (text, yes/no, int, float, Path)")


class EnvSettings:
    """Settings whose fields (class attributes with a type and a default) come, unless passed as keywords,
    from the environment variable of the same name, in any case: what pydantic-settings' BaseSettings
    does with `case_sensitive=False` and no .env file, for flat fields."""

    _fields: ClassVar[dict[str, tuple[Any, Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        hints = typing.get_type_hints(cls)
        cls._fields = {name: (kind, getattr(cls, name)) for name, kind in hints.items()
                       if not name.startswith("_") and typing.get_origin(kind) is not ClassVar}

    def __init__(self, environ: Mapping[str, str] | None = None, **values: Any) -> None:
        unknown = set(values) - set(self._fields)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no setting {', '.join(sorted(unknown))}")
        env = {k.lower(): v for k, v in (os.environ if environ is None else environ).items()}
        for name, (kind, default) in self._fields.items():
            if name in values:
                value = values[name]
                if isinstance(value, str) and kind is not str:
                    value = _convert(name, kind, value)
            elif name in env:
                value = _convert(name, kind, env[name])
            else:
                value = default
            setattr(self, name, value)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields
                          if not any(w in n for w in ("secret", "password", "token", "key")))
        return f"{type(self).__name__}({shown})"


class Settings(EnvSettings):
    """Process settings from environment variables (all optional)."""

    database_url: str = "sqlite:///cxloop.db"
    cxloop_config: Path | None = None
    cxloop_webhook_secret: str | None = None
    cxloop_delighted_secret: str | None = None
    cxloop_typeform_secret: str | None = None
    cxloop_formbricks_secret: str | None = None
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
