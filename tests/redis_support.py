"""Redis for tests: a redis-server of the test's own (to stop and restart), and key cleanup.

Tests on the shared Redis use a unique ``REDIS_PREFIX`` and remove their keys
on teardown; tests that take Redis away start their own server on a free port.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.services import free_port, require


class RedisServer:
    """Our own redis-server on a free port, so the test may stop and restart it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--bind",
                "127.0.0.1",
            ],
            stdout=subprocess.DEVNULL,
        )

    async def wait_up(self) -> None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self.url)
        try:
            for _ in range(100):
                try:
                    await client.ping()
                    return
                except Exception:  # noqa: BLE001 - not up yet
                    await asyncio.sleep(0.05)
        finally:
            await client.aclose()
        raise TimeoutError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    require(
        shutil.which("redis-server") is not None,
        "redis-server (to start a Redis of the test's own)",
    )
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def drop_keys(url: str, prefix: str) -> None:
    """Remove every key under ``prefix:`` (the test's own; other runs use other prefixes)."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
