"""The in-process broker of the embedded default: one process, no network."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from realtime.brokers.base import Broker


class MemoryBroker(Broker):
    def __init__(self) -> None:
        self.topics: set[str] = set()
        self._claims: dict[str, float] = {}

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        self.topics.clear()

    async def subscribe(self, topic: str) -> None:
        self.topics.add(topic)

    async def unsubscribe(self, topic: str) -> None:
        self.topics.discard(topic)

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        loop = asyncio.get_running_loop()
        for topic, payload in messages:
            if topic in self.topics:
                # Delivered later, like a network broker would: publishers never re-enter fan-out.
                loop.call_soon(self.on_message, topic, payload)

    async def ping(self) -> None:
        return None

    async def claim_once(self, key: str, ttl_secs: int) -> bool:
        now = time.monotonic()
        if len(self._claims) > 10_000:
            self._claims = {k: t for k, t in self._claims.items() if t > now}
        expires = self._claims.get(key)
        if expires is not None and expires > now:
            return False
        self._claims[key] = now + ttl_secs
        return True
