"""Before a ``classhub`` command runs: does the database answer, and Redis where a
command needs it? A failure is a :class:`ConfigError`, one line naming the variable
(the CLI prints it and exits 2), instead of a driver's traceback from deep inside the
command. The check is one connection, made and closed."""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import make_url

from storage.db import check_reachable
from storage.errors import ConfigError
from storage.settings import Settings

CONNECT_TIMEOUT_SECS = 10.0


def _reason(exc: BaseException) -> str:
    """The client's own words, first line only."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT_SECS:g} s"
    words = str(exc).strip().splitlines()
    return words[0] if words else type(exc).__name__


async def _ping_redis(url: str) -> None:
    from redis import asyncio as aioredis

    client = aioredis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_SECS)
    try:
        await client.ping()
    finally:
        await client.aclose()


def check_database(settings: Settings) -> None:
    if settings.is_sqlite:
        # A local file: Settings already refused a directory that does not exist, and
        # opening it here would create the database before the command chose to.
        return
    asyncio.run(check_reachable(settings.database_url, CONNECT_TIMEOUT_SECS))
def check_redis(settings: Settings) -> None:
    if settings.redis_url is None:
        return
    from redis.exceptions import RedisError

    shown = make_url(settings.redis_url).render_as_string(hide_password=True)
    try:
        asyncio.run(asyncio.wait_for(_ping_redis(settings.redis_url), CONNECT_TIMEOUT_SECS))
    except (OSError, TimeoutError, RedisError) as exc:
        raise ConfigError("REDIS_URL", f"cannot reach {shown}: {_reason(exc)}") from exc
