"""Brokers carry news of committed events between processes, behind one small interface.

Chosen by URL: none or ``memory://`` -> in-process (one process only);
``redis://`` / ``rediss://`` / ``unix://`` -> Redis pub/sub. Imported lazily so
the embedded default never needs the Redis client.
"""

from __future__ import annotations

from realtime.brokers.base import Broker


def broker_from_url(url: str | None, *, prefix: str) -> Broker:
    if url is None or url.startswith("memory"):
        from realtime.brokers.memory import MemoryBroker

        return MemoryBroker()
    from realtime.brokers.redis import RedisBroker

    return RedisBroker(url, prefix=prefix)


__all__ = ["Broker", "broker_from_url"]
