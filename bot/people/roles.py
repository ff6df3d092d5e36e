"""The roles people have in cxloop, from least to most trusted."""

from __future__ import annotations

import enum


class Role(str, enum.Enum):
    AGENT = "agent"
    MANAGER = "manager"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return {"agent": 0, "manager": 1, "admin": 2}[self.value]
