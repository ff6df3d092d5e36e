"""Staff names in customer comments: the model may propose, the roster decides.

A name counts only if it is on the roster (a full name, or a first name no one else on the roster
has) and the comment really has it as a word, ignoring case and accents. A model can therefore only
narrow the offline match ("grace" the word is not Grace Kim), never add someone the comment does not
name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence


def fold(text: str) -> str:
    """Case- and accent-insensitive form: 'Zoë Müller' → 'zoe muller'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())


def _keys(roster: Sequence[str]) -> dict[str, list[str]]:
    """Folded full names and first names → the roster names they may mean."""
    keys: dict[str, list[str]] = {}
    firsts: dict[str, list[str]] = {}
    for name in roster:
        key = fold(name)
        if not key:
            continue
        keys.setdefault(key, []).append(name)
        words = key.split()
        if len(words) > 1:
            firsts.setdefault(words[0], []).append(name)
    for first, names in firsts.items():
        keys.setdefault(first, []).extend(n for n in names if n not in keys.get(first, []))
    return keys


def roster_name(proposed: str, roster: Sequence[str]) -> str | None:
    """The one roster name `proposed` means (full name or unique first name), else None."""
    matches = _keys(roster).get(fold(proposed), [])
    return matches[0] if len(set(matches)) == 1 else None


def confirm_names(proposed: Iterable[str], comment: str, roster: Sequence[str]) -> list[str]:
    """The proposed names that are on the roster and that the comment names (by `offline_names`' rules)."""
    named = offline_names(comment, roster)
    out: list[str] = []
    for p in proposed:
        name = roster_name(p, roster)
        if name is not None and name in named and name not in out:
            out.append(name)
    return out


def offline_names(comment: str, roster: Sequence[str]) -> list[str]:
    """Roster names the comment names unambiguously, in order of first mention.

    A one-word name written in lower case in a comment that otherwise uses capitals ("handled with
    grace") is read as an ordinary word; a first name several people share matches no one.
    """
    if not comment:
        return []
    folded = fold(comment)
    capitalised = any(c.isupper() for c in comment)
    hits: list[tuple[int, int, str]] = []
    taken: list[tuple[int, int]] = []
    for key, names in sorted(_keys(roster).items(), key=lambda kv: -len(kv[0])):  # full names first
        if len(set(names)) != 1:
            continue
        words = r"\s+".join(re.escape(w) for w in key.split())
        for m in re.finditer(rf"(?<!\w){words}(?!\w)", folded):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            if " " not in key and capitalised and _lower_in_original(comment, key):
                continue
            taken.append((m.start(), m.end()))
            hits.append((m.start(), m.end(), names[0]))
    hits.sort()
    # "Sam or Samira": the customer isn't sure who helped, so neither is credited.
    unsure: set[int] = set()
    for i in range(1, len(hits)):
        if _UNSURE.match(folded[hits[i - 1][1]:hits[i][0]]) and hits[i - 1][2] != hits[i][2]:
            unsure.update((i - 1, i))
    out: list[str] = []
    for i, (_, _, name) in enumerate(hits):
        if i not in unsure and name not in out:
            out.append(name)
    return out


_UNSURE = re.compile(r"^[\s,(]*(?:or(?:\s+(?:maybe|perhaps|possibly|was\s+it))?|/)[\s,)]*$")


def _lower_in_original(comment: str, key: str) -> bool:
    """Whether every occurrence of the one-word `key` in the comment is written in lower case."""
    found = [m.group(0) for m in re.finditer(rf"(?<!\w){re.escape(key)}(?!\w)", comment, re.IGNORECASE)]
    return bool(found) and all(f == f.lower() for f in found)
