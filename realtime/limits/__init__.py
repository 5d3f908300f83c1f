"""Limits that hold across server processes: the connection cap, publish flood control, mail pace.

With ``REDIS_URL`` set they are kept in Redis (under ``REDIS_PREFIX``) and hold
for the whole deployment; without it (the embedded default: one process) each
process's own bookkeeping is the whole truth and Redis is never imported.
When Redis cannot be asked at that moment, each process falls back to its own
local limit (logged once per outage): nobody is refused for Redis's sake and
no connection fails because of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from realtime.limits.redis_limits import RedisLimits
    from storage.settings import Settings


def shared_limits(settings: Settings) -> RedisLimits | None:
    if settings.redis_url is None:
        return None
    from realtime.limits.redis_limits import RedisLimits

    return RedisLimits(settings.redis_url, prefix=settings.redis_prefix)


__all__ = ["shared_limits"]
