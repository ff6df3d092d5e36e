"""The erasure key: an erased customer is remembered only by a keyed hash of their email and customer id.

The hash is HMAC-SHA256 under a secret that lives outside the database (`CXLOOP_PRIVACY_KEY`), so
a leaked database or backup cannot be tested against guessed emails: without the key the digests
say nothing, and a plain hash of an email would be one dictionary attack away from the address.
The key must never change: digests made under another key no longer match. Each digest records
the key's id (an HMAC of a fixed label, never the key), so a changed key is noticed, not missed.

The process's key is installed from its settings once (like the process clock, storage/clock.py):
by the Runtime every server and worker builds, and by the commands that need it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.settings import Settings

ENV = "CXLOOP_PRIVACY_KEY"
MIN_LENGTH = 32
EMAIL, CUSTOMER_ID = "email", "customer_id"
KINDS = (EMAIL, CUSTOMER_ID)
HOW_TO_MAKE_ONE = ("make one with `python3 -c 'import secrets; print(secrets.token_hex(32))'`, keep it with "
                   "your other secrets, and never change it")


class MissingKey(ConfigError):
    """An erasure needs the key, or erasures were recorded under a key this process does not have."""


def normalise(kind: str, value: str | None) -> str | None:
    """The form a value is hashed in: emails ignore case and spaces around; customer ids only the spaces."""
    if value is None:
        return None
    v = value.strip()
    if not v:
        return None
    return v.casefold() if kind == EMAIL else v


@dataclass(frozen=True)
class ErasureKey:
    secret: bytes

    @property
    def id(self) -> str:
        """A short public name for this key: which key made a digest, without revealing the key."""
        return hmac.new(self.secret, b"cxloop erasure key id", hashlib.sha256).hexdigest()[:16]

    def digest(self, kind: str, value: str | None) -> str | None:
        """The keyed hash of an email or a customer id (None for an empty value)."""
        if kind not in KINDS:
            raise ValueError(f"unknown identity kind {kind!r}")
        norm = normalise(kind, value)
        if norm is None:
            return None
        return hmac.new(self.secret, f"{kind}\x00{norm}".encode("utf-8"), hashlib.sha256).hexdigest()


def from_text(text: str) -> ErasureKey:
    """The key from its setting; too short a key is refused (never echoing it)."""
    if len(text.strip()) < MIN_LENGTH:
        raise ConfigError(f"{ENV} is too short ({len(text.strip())} characters); it needs at least {MIN_LENGTH}: "
                          f"{HOW_TO_MAKE_ONE}")
    return ErasureKey(text.strip().encode("utf-8"))


_current: ErasureKey | None = None


def install(settings: Settings | None) -> ErasureKey | None:
    """Make `settings`' key this process's key (None when it has none); returns it."""
    global _current
    text = getattr(settings, "cxloop_privacy_key", None) if settings is not None else None
    _current = from_text(text) if text else None
    return _current


def current() -> ErasureKey | None:
    """This process's key, if it has one."""
    return _current


def require(doing: str) -> ErasureKey:
    """This process's key, or MissingKey saying how to set one."""
    if _current is None:
        raise MissingKey(f"{doing} needs {ENV}: erased customers are remembered by a keyed hash of their email and "
                         f"customer id, so that a re-sent or re-imported answer does not bring them back; "
                         f"{HOW_TO_MAKE_ONE}")
    return _current
