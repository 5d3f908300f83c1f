"""Sending pace: a sliding-window rate limit and full-jitter backoff. No I/O here.

Both take the time from the caller, so tests drive them with a fake clock.
"""

from __future__ import annotations

import random
from collections import deque


class SlidingWindow:
    """At most ``limit`` starts in any window of ``window_secs`` seconds.

    A token bucket would allow a burst of ``limit`` at the edge of two windows
    (2x the rate inside one second); a log of start times cannot.
    """

    def __init__(self, limit: int, window_secs: float) -> None:
        if limit < 1:
            raise RuntimeError("a sliding window needs a limit of at least 1")
        self.limit = limit
        self.window_secs = window_secs
        self._starts: deque[float] = deque()

    def delay(self, now: float) -> float:
        """Seconds to wait before the next start is allowed (0 when allowed now)."""
        while self._starts and self._starts[0] <= now - self.window_secs:
            self._starts.popleft()
        if len(self._starts) < self.limit:
            return 0.0
        return self._starts[0] + self.window_secs - now

    def record(self, now: float) -> None:
        self._starts.append(now)


def window_for_rate(rate_per_sec: float) -> SlidingWindow:
    """A window that yields ``rate_per_sec`` on average (fractions as longer windows)."""
    if rate_per_sec >= 1:
        return SlidingWindow(int(rate_per_sec), 1.0 * int(rate_per_sec) / rate_per_sec)
    return SlidingWindow(1, 1.0 / rate_per_sec)


def full_jitter(
    attempt: int, base_secs: float, cap_secs: float, rng: random.Random | None = None
) -> float:
    """AWS "full jitter": random(0, min(cap, base * 2**attempt)).

    ``attempt`` counts the failures so far (1 after the first failure).
    """
    ceiling = min(cap_secs, base_secs * (2 ** min(attempt, 62)))
    return (rng or random).uniform(0, ceiling)
