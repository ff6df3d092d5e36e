"""Intervals for an improvement's figures: is a change more than noise?

- A share (CSAT's satisfied, CES's agree, a theme's share of comments): the Wilson score interval
  for one share, and Newcombe's hybrid score interval (his method 10, built from the two Wilson
  intervals) for the difference between two. Both behave at small counts and at 0% or 100%, where
  the textbook Wald interval collapses to a point.
- NPS: each answer scores +1 (promoter), 0 (passive) or −1 (detractor), so NPS is not a share and
  has no closed-form interval of its own; a percentile bootstrap resamples the answers (as
  promoter, passive and detractor counts) 4,000 times. The generator is seeded from the counts
  themselves, so the same figures always give the same interval, on any machine and at any re-run.

Every interval is 95%, in the figure's own units (percentage points, NPS points), to one decimal.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

Z95 = 1.959963984540054  # the standard normal's 97.5th percentile
BOOTSTRAP_REPS = 4000


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def rounded(self) -> Interval:
        return Interval(round(self.low, 1), round(self.high, 1))


def wilson(hits: int, n: int, z: float = Z95) -> Interval | None:
    """The Wilson score interval for the share hits/n, as proportions (0 to 1); None when n is 0."""
    if n <= 0:
        return None
    if not 0 <= hits <= n:
        raise ValueError(f"{hits} of {n} is not a share")
    p = hits / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def newcombe(hits_after: int, n_after: int, hits_before: int, n_before: int, z: float = Z95) -> Interval | None:
    """Newcombe's hybrid score interval for (after share − before share), as proportions."""
    a, b = wilson(hits_after, n_after, z), wilson(hits_before, n_before, z)
    if a is None or b is None:
        return None
    p1, p2 = hits_after / n_after, hits_before / n_before
    diff = p1 - p2
    down = math.sqrt((p1 - a.low) ** 2 + (b.high - p2) ** 2)
    up = math.sqrt((a.high - p1) ** 2 + (p2 - b.low) ** 2)
    return Interval(diff - down, diff + up)


def _seed(*counts: int) -> int:
    """A seed from the figures themselves: the same counts always resample the same way."""
    return int.from_bytes(hashlib.sha256(",".join(map(str, counts)).encode()).digest()[:8], "big")


def _nps_draws(rng, n: int, promoters: int, detractors: int, reps: int):  # type: ignore[no-untyped-def]
    passives = n - promoters - detractors
    draws = rng.multinomial(n, [promoters / n, passives / n, detractors / n], size=reps)
    return 100.0 * (draws[:, 0] - draws[:, 2]) / n


def _check_nps(n: int, promoters: int, detractors: int) -> None:
    if n <= 0 or promoters < 0 or detractors < 0 or promoters + detractors > n:
        raise ValueError(f"{promoters} promoters and {detractors} detractors of {n} answers do not add up")


def nps_interval(n: int, promoters: int, detractors: int, *, reps: int = BOOTSTRAP_REPS) -> Interval | None:
    """A 95% percentile-bootstrap interval for one NPS, in NPS points; None with no answers."""
    if n <= 0:
        return None
    _check_nps(n, promoters, detractors)
    import numpy as np  # only when an NPS interval is drawn

    rng = np.random.default_rng(_seed(n, promoters, detractors, reps))
    scores = _nps_draws(rng, n, promoters, detractors, reps)
    low, high = np.percentile(scores, [2.5, 97.5])
    return Interval(float(low), float(high))


def nps_change_interval(after: tuple[int, int, int], before: tuple[int, int, int], *,
                        reps: int = BOOTSTRAP_REPS) -> Interval | None:
    """A 95% percentile-bootstrap interval for (NPS after − NPS before); each is (answers, promoters,
    detractors), resampled independently. None when either has no answers."""
    if after[0] <= 0 or before[0] <= 0:
        return None
    _check_nps(*after)
    _check_nps(*before)
    import numpy as np

    rng = np.random.default_rng(_seed(*after, *before, reps))
    diffs = _nps_draws(rng, *after, reps) - _nps_draws(rng, *before, reps)
    low, high = np.percentile(diffs, [2.5, 97.5])
    return Interval(float(low), float(high))
