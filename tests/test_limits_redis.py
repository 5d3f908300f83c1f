"""The shared limits against a real Redis: two ``RedisLimits`` stand for two processes.

They share a unique ``REDIS_PREFIX`` (removed on teardown). What happens when
Redis is missing, dead or silent is tested with a redis-server of the test's
own, a port nobody listens on and a socket that never answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from realtime.limits.leases import ConnectionLeases
from realtime.limits.outage import Outage
from realtime.limits.redis_limits import RedisLimits
from realtime.protocol.ratelimit import TokenBucket
from tests.redis_support import RedisServer, drop_keys
from tests.services import REDIS_URL, free_port, require_redis

pytestmark = [pytest.mark.redis]


@pytest.fixture
async def pair() -> AsyncIterator[tuple[RedisLimits, RedisLimits]]:
    """Two processes' limits on the shared Redis, under a prefix of this test's own."""
    require_redis()
    prefix = f"classhub-test-{uuid.uuid4().hex[:8]}"
    a, b = RedisLimits(REDIS_URL, prefix=prefix), RedisLimits(REDIS_URL, prefix=prefix)
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()
        await drop_keys(REDIS_URL, prefix)


def test_outage_logs_once_each_way_and_probes_once_per_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "classhub.limits")
    o = Outage("shared limits", 2.0)
    assert o.usable(0.0)
    o.failed(0.0, ConnectionError("refused"))
    o.failed(0.1, ConnectionError("refused"))
    assert len(caplog.records) == 1 and "could not be asked" in caplog.records[0].getMessage()
    assert not o.usable(2.0)  # 2 s after the last failure, not the first
    assert o.usable(2.1)  # the probe ...
    assert not o.usable(2.2)  # ... one caller only; the others still decide locally
    o.succeeded(2.3)
    assert len(caplog.records) == 2 and "reachable again" in caplog.records[1].getMessage()
    assert o.usable(2.4) and not o.down


async def test_publish_bucket_is_one_bucket_for_both_processes(
    pair: tuple[RedisLimits, RedisLimits],
) -> None:
    a, b = pair
    rate, burst = 2.0, 4
    # Alternating between the two processes: 4 publishes in all, not 4 each.
    answers = [await (a if i % 2 else b).take_publish(7, rate, burst) for i in range(6)]
    assert answers[:4] == [0.0] * 4
    assert all(w is not None and 0 < w <= 1 / rate for w in answers[4:]), answers
    # Another user has a bucket of their own.
    assert await a.take_publish(8, rate, burst) == 0.0
    # Refills at `rate` like the local bucket: one token after retry_after, not two.
    wait = await b.take_publish(7, rate, burst)
    assert wait is not None and wait > 0
    await asyncio.sleep(wait + 0.02)
    assert await a.take_publish(7, rate, burst) == 0.0
    again = await b.take_publish(7, rate, burst)
    assert again is not None and again > 0  # one token came back, not two


async def test_publish_bucket_answers_like_the_local_token_bucket(
    pair: tuple[RedisLimits, RedisLimits],
) -> None:
    a, _ = pair
    rate, burst = 1.0, 3
    local = TokenBucket(rate, burst, time.monotonic())
    for _ in range(5):
        shared = await a.take_publish(9, rate, burst)
        mine = local.take(time.monotonic())
        assert shared is not None
        assert (shared == 0.0) == (mine == 0.0)
        assert shared == pytest.approx(mine, abs=0.1)


async def test_pipelined_calls_each_get_their_own_answer(
    pair: tuple[RedisLimits, RedisLimits],
) -> None:
    a, _ = pair
    # 50 checks at once go out in a few round trips; each caller gets its own answer.
    answers = await asyncio.gather(*(a.take_publish(10, 1.0, 20) for _ in range(50)))
    assert answers.count(0.0) == 20
    assert all(w is not None and w > 0 for w in answers if w != 0.0)


async def test_connection_cap_holds_across_processes_and_a_closed_connection_frees_its_place(
    pair: tuple[RedisLimits, RedisLimits],
) -> None:
    a, b = pair
    la = ConnectionLeases(a, "A", limit=3, lease_secs=5.0)
    lb = ConnectionLeases(b, "B", limit=3, lease_secs=5.0)
    la.start()
    lb.start()
    try:
        (first, ok1), (_, ok2) = await la.acquire(1), await la.acquire(1)
        assert ok1 and ok2
        assert (await lb.acquire(1))[1]
        assert not (await lb.acquire(1))[1]  # the fourth, on either process
        assert not (await la.acquire(1))[1]
        assert (await la.acquire(2))[1]  # another user is not affected
        la.release(1, first)
        deadline = time.monotonic() + 2
        while not (await lb.acquire(1))[1]:
            assert time.monotonic() < deadline, "the closed connection's place was not given back"
            await asyncio.sleep(0.02)
    finally:
        await la.close()
        await lb.close()
    # Closing gives back every place this process held.
    assert await b.acquire_connection(1, "probe", 1, 5.0) is True


async def test_a_dead_process_leases_expire_while_renewed_ones_stay(
    pair: tuple[RedisLimits, RedisLimits],
) -> None:
    a, b = pair
    live = ConnectionLeases(a, "live", limit=2, lease_secs=2.0)
    live.start()
    try:
        assert (await live.acquire(5))[1]
        # A process that took a place and died: nothing renews its lease.
        dead = ConnectionLeases(b, "dead", limit=2, lease_secs=2.0)
        assert (await dead.acquire(5))[1]
        assert await b.acquire_connection(5, "new", 2, 2.0) is False
        await asyncio.sleep(2.3)  # > one lease: the live one was renewed (every 2/3 s) meanwhile
        assert await b.acquire_connection(5, "new", 2, 2.0) is True
        assert await b.acquire_connection(5, "newer", 2, 2.0) is False  # the live one still counts
    finally:
        await live.close()


async def test_renewal_restores_leases_redis_lost(pair: tuple[RedisLimits, RedisLimits]) -> None:
    import redis.asyncio as aioredis

    a, _ = pair
    leases = ConnectionLeases(a, "A", limit=1, lease_secs=0.6)
    leases.start()
    client = aioredis.Redis.from_url(REDIS_URL)
    key = a.keys + "conns:3"
    try:
        ours, granted = await leases.acquire(3)
        assert granted
        await client.delete(key)  # as after a Redis restart without persistence
        assert await a.acquire_connection(3, "other", 1, 0.6) is True
        await a.release_connections([(3, "other")])
        deadline = time.monotonic() + 3
        while await client.zscore(key, ours) is None:  # the next renewal (every 0.2 s) ...
            assert time.monotonic() < deadline, "the lease was not restored"
            await asyncio.sleep(0.05)
        assert await a.acquire_connection(3, "other", 1, 0.6) is False  # ... and it counts again
    finally:
        await leases.close()
        await client.aclose()


async def test_mail_window_is_shared_by_two_workers(pair: tuple[RedisLimits, RedisLimits]) -> None:
    a, b = pair
    answers = [await (a if i % 2 else b).mail_start(3, 0.5, f"s{i}") for i in range(5)]
    assert answers[:3] == [0.0] * 3
    assert all(w is not None and 0 < w <= 0.5 for w in answers[3:])
    await asyncio.sleep(max(w or 0 for w in answers[3:]) + 0.02)
    assert await a.mail_start(3, 0.5, "later") == 0.0


async def test_redis_missing_means_local_decisions_fast_and_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "classhub.limits")
    limits = RedisLimits(
        f"redis://127.0.0.1:{free_port()}/0", prefix="classhub-test-missing", retry_secs=60
    )
    leases = ConnectionLeases(limits, "A", limit=2)
    try:
        started = time.monotonic()
        assert [await limits.take_publish(1, 1.0, 1) for _ in range(5)] == [None] * 5
        assert await limits.acquire_connection(1, "x", 2, 30.0) is None
        assert await limits.mail_start(1, 1.0, "m") is None
        assert (await leases.acquire(1))[1]  # the local cap decides: admitted, never refused
        assert time.monotonic() - started < 1.0
        assert limits.fallbacks == 8
        assert len([r for r in caplog.records if "could not be asked" in r.getMessage()]) == 1
    finally:
        await leases.close()
        await limits.close()


async def test_a_silent_redis_costs_one_timeout_then_nothing() -> None:
    # A peer that accepts and never answers (a hung Redis, a cut cable): nobody hangs.
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 20)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    limits = RedisLimits(
        f"redis://127.0.0.1:{port}/0",
        prefix="classhub-test-silent",
        timeout_secs=0.2,
        retry_secs=60,
    )
    try:
        started = time.monotonic()
        assert (
            await asyncio.gather(*(limits.take_publish(1, 1.0, 5) for _ in range(10)))
            == [None] * 10
        )
        first = time.monotonic() - started
        assert first < 0.5  # one timeout for all of them, not one each
        started = time.monotonic()
        assert await limits.take_publish(1, 1.0, 5) is None
        assert time.monotonic() - started < 0.01  # within the retry period Redis is not asked
    finally:
        await limits.close()
        server.close()
        await server.wait_closed()


async def test_limits_are_shared_again_once_redis_is_back(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "classhub.limits")
    await own_redis.wait_up()
    limits = RedisLimits(own_redis.url, prefix="classhub-test-back", retry_secs=0.2)
    try:
        assert await limits.take_publish(1, 1.0, 1) == 0.0
        own_redis.stop()
        assert await limits.take_publish(1, 1.0, 1) is None
        own_redis.start()
        await own_redis.wait_up()
        await asyncio.sleep(0.25)
        # Redis came back empty: the bucket is full again, and shared.
        assert await limits.take_publish(1, 1.0, 1) == 0.0
        wait = await limits.take_publish(1, 1.0, 1)
        assert wait is not None and wait > 0
        messages = [r.getMessage() for r in caplog.records]
        assert (
            len(messages) == 2
            and "could not be asked" in messages[0]
            and "reachable again" in messages[1]
        )
    finally:
        await limits.close()


async def test_closing_mid_round_trip_leaves_nobody_waiting() -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 20)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    limits = RedisLimits(
        f"redis://127.0.0.1:{port}/0", prefix="classhub-test-close", timeout_secs=30
    )
    try:
        checks = asyncio.gather(*(limits.take_publish(1, 1.0, 5) for _ in range(3)))
        await asyncio.sleep(0.1)  # sent, no answer coming
        started = time.monotonic()
        await limits.close()
        assert await asyncio.wait_for(checks, 1.0) == [None] * 3  # decided locally, at once
        assert time.monotonic() - started < 1.0
    finally:
        server.close()
        await server.wait_closed()
