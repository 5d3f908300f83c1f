"""Before a ``classhub`` command runs: does the database answer, and Redis where a
command needs it? A failure is a :class:`ConfigError`, one line naming the variable
(the CLI prints it and exits 2), instead of a driver's traceback from deep inside the
command. The check is one connection, made and closed."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from storage.errors import ConfigError
from storage.settings import Settings

CONNECT_TIMEOUT_SECS = 10.0


def _reason(exc: BaseException) -> str:
    """The driver's own words, first line only (asyncpg's and redis's are clear)."""
    inner = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    if isinstance(inner, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT_SECS:g} s"
    words = str(inner).strip().splitlines()
    return words[0] if words else type(inner).__name__


async def _ping_database(url: str) -> None:
    from storage.db import make_engine

    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


async def _ping_redis(url: str) -> None:
    from redis import asyncio as aioredis

    client = aioredis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_SECS)
    try:
        await client.ping()
    finally:
        await client.aclose()


def check_database(settings: Settings) -> None:
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    try:
        asyncio.run(asyncio.wait_for(_ping_database(settings.database_url), CONNECT_TIMEOUT_SECS))
    except (OSError, TimeoutError, DBAPIError) as exc:
        raise ConfigError("DATABASE_URL", f"cannot use {shown}: {_reason(exc)}") from exc


def check_redis(settings: Settings) -> None:
    if settings.redis_url is None:
        return
    from redis.exceptions import RedisError

    shown = make_url(settings.redis_url).render_as_string(hide_password=True)
    try:
        asyncio.run(asyncio.wait_for(_ping_redis(settings.redis_url), CONNECT_TIMEOUT_SECS))
    except (OSError, TimeoutError, RedisError) as exc:
        raise ConfigError("REDIS_URL", f"cannot reach {shown}: {_reason(exc)}") from exc
