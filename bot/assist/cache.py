"""Answers already paid for: one per (subject, kind, model, prompt version), checked against the input.

The key says what was asked about (`response:42`), what was asked (`classify`), of which model and
with which prompt version; the stored input hash makes a changed input (an edited comment, another
theme list) a miss, and the new answer replaces the old. Only model answers are cached: the offline
method costs nothing and is recomputed, so a failure today never stops the model answering tomorrow.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from storage.db import writing
from storage.types import utcnow


@dataclass(frozen=True)
class CacheKey:
    subject: str
    kind: str
    model: str
    prompt_version: str


def input_hash(data: Any) -> str:
    """A stable hash of what is sent to the model."""
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResultCache(Protocol):
    def get(self, key: CacheKey, digest: str) -> dict[str, Any] | None:
        """The stored payload for `key` if it was computed from the same input, else None."""
        ...

    def put(self, key: CacheKey, digest: str, payload: dict[str, Any], tokens: int) -> None:
        """Store (or replace) the payload for `key`."""
        ...


class MemoryCache:
    """A cache in memory, for tests and scripts."""

    def __init__(self) -> None:
        self.rows: dict[CacheKey, tuple[str, dict[str, Any], int]] = {}
        self._lock = threading.Lock()

    def get(self, key: CacheKey, digest: str) -> dict[str, Any] | None:
        row = self.rows.get(key)
        return row[1] if row is not None and row[0] == digest else None

    def put(self, key: CacheKey, digest: str, payload: dict[str, Any], tokens: int) -> None:
        with self._lock:
            self.rows[key] = (digest, payload, tokens)


class DbCache:
    """The cache in the `assist_result` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def _where(t: Any, key: CacheKey) -> Any:
        return ((t.c.subject == key.subject) & (t.c.kind == key.kind) & (t.c.model == key.model)
                & (t.c.prompt_version == key.prompt_version))

    def get(self, key: CacheKey, digest: str) -> dict[str, Any] | None:
        from storage.models import AssistResult

        t = AssistResult.__table__  # type: ignore[attr-defined]
        with self.engine.execution_options(cx_write=False).connect() as conn:
            row = conn.execute(select(t.c.input_hash, t.c.payload).where(self._where(t, key))).first()
        if row is None or row.input_hash != digest:
            return None
        return dict(row.payload)

    def put(self, key: CacheKey, digest: str, payload: dict[str, Any], tokens: int) -> None:
        from storage.models import AssistResult

        t = AssistResult.__table__  # type: ignore[attr-defined]
        values = {"input_hash": digest, "payload": payload, "tokens": tokens, "created_at": utcnow()}
        for _ in range(3):
            with writing(self.engine) as conn:
                if conn.execute(update(t).where(self._where(t, key)).values(**values)).rowcount:
                    return
                try:
                    with conn.begin_nested():
                        conn.execute(t.insert().values(subject=key.subject, kind=key.kind, model=key.model,
                                                       prompt_version=key.prompt_version, **values))
                    return
                except IntegrityError:
                    continue
