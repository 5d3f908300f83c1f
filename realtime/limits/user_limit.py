"""A per-user limit of one kind of request (HTTP writes, subscribe frames), in this process
and, with Redis, across processes.

This process's token bucket (realtime/protocol/ratelimit.py) is asked first: it has
seen only this process's share of the user's requests, so when it refuses the shared
one would too, and a flood is refused without a round trip. A request it grants is
then asked of the user's bucket in Redis (the publish limit's GCRA script, under a key
of its own kind); Redis not answering leaves the local bucket to decide.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from realtime.protocol.ratelimit import TokenBucket

if TYPE_CHECKING:
    from realtime.limits.redis_limits import RedisLimits

# Buckets kept per limit before the full ones (users idle long enough to refill) are dropped.
MAX_BUCKETS = 50_000


class UserLimit:
    def __init__(
        self, kind: str, rate: float, burst: int, shared: RedisLimits | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kind = kind
        self.rate = rate
        self.burst = burst
        self.shared = shared
        self.clock = clock
        self.buckets: dict[int, TokenBucket] = {}
        self.refused = 0  # a metric

    async def take(self, user_id: int) -> float:
        """0.0 when granted, else the seconds until the user may try again."""
        now = self.clock()
        bucket = self.buckets.get(user_id)
        if bucket is None:
            if len(self.buckets) >= MAX_BUCKETS:
                self.buckets = {u: b for u, b in self.buckets.items() if not b.full(now)}
            bucket = self.buckets[user_id] = TokenBucket(self.rate, self.burst, now)
        wait = bucket.take(now)
        if not wait and self.shared is not None:
            shared = await self.shared.take(self.kind, user_id, self.rate, self.burst)
            if shared:
                bucket.give_back()  # refused after all: this process's share is not spent
                wait = shared
        if wait:
            self.refused += 1
        return wait
