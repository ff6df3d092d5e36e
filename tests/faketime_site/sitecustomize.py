"""Loaded by every Python process the suite starts while it runs under faketime (see `cli_env`).

libfaketime 0.9.10 (Debian bookworm) hands the kernel a negative deadline for
clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) when the monotonic clock is left alone
(wolfcw/libfaketime#426), which is how Python 3.11's time.sleep waits: every sleep raises EINVAL.
select() takes a relative timeout and is unaffected, so time.sleep waits with it instead.
"""

from __future__ import annotations

import os
import select
import time


def under_faketime_with_real_monotonic() -> bool:
    return "faketime" in os.environ.get("LD_PRELOAD", "") and os.environ.get("FAKETIME_DONT_FAKE_MONOTONIC") == "1"


def _sleep(seconds: float) -> None:
    select.select([], [], [], seconds)


if under_faketime_with_real_monotonic():
    time.sleep = _sleep
