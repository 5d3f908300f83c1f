"""How often a user may publish, subscribe and write over HTTP: this process's token buckets
first, then (with Redis) the user's bucket across processes (realtime/limits/)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from realtime.limits.user_limit import UserLimit
from realtime.protocol.ratelimit import TokenBucket
from realtime.tasks import Tasks
from storage.settings import Settings

if TYPE_CHECKING:  # Redis is imported only when REDIS_URL is set (realtime/limits/)
    from realtime.limits.redis_limits import RedisLimits

BUCKETS_MAX = 50_000
REFUSALS_MAX = 10_000


class RateLimits:
    def __init__(self, settings: Settings, shared: RedisLimits | None, tasks: Tasks) -> None:
        self.settings = settings
        self.shared = shared
        self.tasks = tasks
        self.buckets: dict[int, TokenBucket] = {}
        # Refusals of the shared (Redis) publish bucket: user -> monotonic time they end;
        # posts granted here and not yet recorded there: user -> how many.
        self._shared_refusals: dict[int, float] = {}
        self._unrecorded: dict[int, int] = {}
        self._record_handle: asyncio.TimerHandle | None = None
        self.shared_record_secs = settings.hub.shared_record_secs
        # Subscribe frames, and the HTTP API's writes (web/api.py asks ``Hub.write_limit``).
        self.subscribe_limit = UserLimit(
            "subscribe", settings.subscribe_rate, settings.subscribe_burst, shared
        )
        self.write_limit = UserLimit("write", settings.write_rate, settings.write_burst, shared)
        # The server API's calls, per API key (its id; web/key_auth.py).
        self.api_key_limit = UserLimit(
            "apikey", settings.api_key_rate, settings.api_key_burst, shared
        )

    async def close(self) -> None:
        """After the connection leases (they use the same Redis client)."""
        if self._record_handle is not None:
            self._record_handle.cancel()  # posts not yet recorded: they no longer matter
        if self.shared is not None:
            await self.shared.close()

    def publish_bucket(self, user_id: int, now: float) -> TokenBucket:
        """The user's publish bucket in this process (synchronous: the common case of a
        publish takes its token here and awaits nothing)."""
        bucket = self.buckets.get(user_id)
        if bucket is None:
            if len(self.buckets) > BUCKETS_MAX:
                self.buckets = {u: b for u, b in self.buckets.items() if not b.full(now)}
            s = self.settings
            bucket = self.buckets[user_id] = TokenBucket(s.publish_rate, s.publish_burst, now)
        return bucket

    async def shared_publish_wait(self, user_id: int, bucket: TokenBucket, now: float) -> float:
        """The user's bucket across processes (Redis), after the local one granted a token.

        A refusal from Redis holds here until its time is up. When the user's local
        bucket was full (they had not posted here lately: a classroom's one post a
        second), the post goes on at once and is recorded in Redis with the others of
        the next moment (``CLASSHUB_SHARED_RECORD_SECS``, one round trip for all of
        them); Redis's answer, when the user is over the shared limit, refuses their
        next posts. So
        such posts wait for no round trip and cost Redis a few calls a second in all.
        Any other post waits for Redis's verdict (this user's unrecorded posts recorded
        first, in the same round trip), so a flood through one process or many is
        refused as it comes; the recorded path lets through at most one post per
        process per recording period beyond the limit. Redis not answering leaves the
        local bucket to decide.
        """
        settings, limits = self.settings, self.shared
        if limits is None:
            raise RuntimeError("shared publish limits checked without Redis limits")
        refused_until = self._shared_refusals.get(user_id)
        if refused_until is not None:
            if refused_until > now:
                bucket.give_back()
                return refused_until - now
            del self._shared_refusals[user_id]
        if bucket.was_full():
            self._unrecorded[user_id] = self._unrecorded.get(user_id, 0) + 1
            if self._record_handle is None:
                self._record_handle = asyncio.get_running_loop().call_later(
                    self.shared_record_secs, self._record_publishes
                )
            return 0.0
        shared = await limits.take_publish(
            user_id, settings.publish_rate, settings.publish_burst,
            record_first=self._unrecorded.pop(user_id, 0),
        )
        if not shared:
            return 0.0
        bucket.give_back()
        self._refuse_shared(user_id, shared)
        return shared

    def _record_publishes(self) -> None:
        self._record_handle = None
        counts, self._unrecorded = self._unrecorded, {}
        if counts:
            self.tasks.spawn(self._record_publishes_now(counts), "shared-publish-record")

    async def _record_publishes_now(self, counts: dict[int, int]) -> None:
        shared = self.shared
        if shared is None:
            raise RuntimeError("publishes recorded without Redis limits")
        s = self.settings
        waits = await shared.record_publishes(counts, s.publish_rate, s.publish_burst)
        for user_id, wait in (waits or {}).items():
            if wait > 0:
                self._refuse_shared(user_id, wait)

    def _refuse_shared(self, user_id: int, wait: float) -> None:
        now = time.monotonic()
        refusals = self._shared_refusals
        if len(refusals) > REFUSALS_MAX:
            self._shared_refusals = refusals = {u: t for u, t in refusals.items() if t > now}
        refusals[user_id] = now + wait
