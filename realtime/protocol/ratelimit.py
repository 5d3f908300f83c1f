"""Token bucket for publish flood control, per user, in this process.

With Redis the limit is shared across processes (realtime/limits/); this
bucket is still asked first: it has seen only this process's share of the
user's publishes, so when it refuses the shared one would too, and a flood
is refused without a round trip.
"""

from __future__ import annotations


class TokenBucket:
    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float) -> float:
        """Take one token: 0.0 when granted, else the seconds until one is available."""
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def give_back(self) -> None:
        """Return a token taken for a publish that was refused after all (by the shared limit)."""
        self.tokens = min(self.burst, self.tokens + 1.0)

    def was_full(self) -> bool:
        """The bucket was full before the last ``take`` (the user had not posted lately)."""
        return self.tokens >= self.burst - 1.0

    def full(self, now: float) -> bool:
        return self.tokens + (now - self.stamp) * self.rate >= self.burst
