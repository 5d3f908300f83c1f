"""The per-user limits hold across server processes (Redis), and fall back to each process's own.

Two real ``classhub serve`` processes share PostgreSQL and Redis (a unique
``REDIS_PREFIX``, its keys removed afterwards); the fallback test runs one
in-process server on a redis-server of its own and takes it away.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from storage.models import Role
from tests.hub_support import HubClient, ServerProcess, Stack, World, server_env
from tests.redis_support import RedisServer, drop_keys
from tests.services import REDIS_URL, require_postgres, require_redis

pytestmark = [pytest.mark.slow, pytest.mark.redis]


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> str:
    require_postgres()
    return str(request.getfixturevalue("_postgres_url"))


@asynccontextmanager
async def two_servers(
    pg_url: str, tmp_path: Path, **env: str
) -> AsyncIterator[list[ServerProcess]]:
    require_redis()
    base = server_env(pg_url, tmp_path / "var", REDIS_URL=REDIS_URL, **env)
    servers = [ServerProcess(base) for _ in range(2)]
    try:
        for s in servers:
            s.start()
        for s in servers:
            await s.wait_ready()
        yield servers
    finally:
        for s in servers:
            s.stop()
        await drop_keys(REDIS_URL, base["REDIS_PREFIX"])


async def refused(port: int, cookie: str) -> int:
    """The close code of a connection the server accepts and closes before ``hello``."""
    with pytest.raises(ConnectionClosed) as err:
        await HubClient.connect(port, cookie)
    assert err.value.rcvd is not None
    return err.value.rcvd.code


async def connect_when_admitted(port: int, cookie: str, within: float) -> HubClient:
    deadline = time.monotonic() + within
    while True:
        try:
            return await HubClient.connect(port, cookie)
        except ConnectionClosed as exc:
            assert exc.rcvd is not None and exc.rcvd.code == 4029
            assert time.monotonic() < deadline, "never admitted"
            await asyncio.sleep(0.05)


@pytest.mark.postgres
async def test_connection_cap_counts_the_users_connections_on_every_process(
    pg_url: str, tmp_path: Path
) -> None:
    world = World(pg_url)
    try:
        _a, ca = await world.user("Ada")
        _b, cb = await world.user("Bob")
        async with two_servers(pg_url, tmp_path, MAX_CONNECTIONS_PER_USER="3") as servers:
            p, q = servers[0].port, servers[1].port
            x1, x2 = await HubClient.connect(p, ca), await HubClient.connect(p, ca)
            y1 = await HubClient.connect(q, ca)
            # Three open, split 2 + 1: a fourth is refused on either process (each alone
            # would have let it in), before `hello`, with 4029.
            assert await refused(q, ca) == 4029
            assert await refused(p, ca) == 4029
            bob = await HubClient.connect(q, cb)  # the cap is per user
            # A closed connection gives its place back at once, to any process.
            await x1.close()
            y2 = await connect_when_admitted(q, ca, within=2.0)
            assert await refused(q, ca) == 4029
            for c in (x2, y1, y2, bob):
                await c.close()
    finally:
        await world.close()


@pytest.mark.postgres
async def test_publish_bucket_is_shared_by_the_users_connections_on_every_process(
    pg_url: str, tmp_path: Path
) -> None:
    world = World(pg_url)
    try:
        a, ca = await world.user("Ada")
        ch = f"event:{await world.event((a, Role.PARTICIPANT))}:chat"
        # One token every 2 s, bursts of 4: the test's publishes take far less than 2 s.
        async with two_servers(pg_url, tmp_path, PUBLISH_RATE="0.5", PUBLISH_BURST="4") as servers:
            x = await HubClient.connect(servers[0].port, ca)
            y = await HubClient.connect(servers[1].port, ca)
            for c in (x, y, x, y):
                assert (await c.publish(ch, "hi"))["type"] == "ack"
            # Four in all, not four per process: the fifth is refused on both.
            over = [await c.publish(ch, "too many", cid=f"late-{i}") for i, c in enumerate((x, y))]
            for i, err in enumerate(over):
                assert err["type"] == "error" and err["code"] == "rate_limited", err
                assert err["id"] == f"late-{i}" and err["channel"] == ch
                assert 0 < err["retry_after"] <= 2.0
            await x.send({"type": "ping"})  # refused, not closed
            assert (await x.recv_type("pong"))["type"] == "pong"
            # After retry_after, the same id goes through (once) on either process.
            await asyncio.sleep(over[1]["retry_after"] + 0.05)
            ack = await y.publish(ch, "too many", cid="late-1")
            assert ack["type"] == "ack" and ack["seq"] == 5
            for c in (x, y):
                await c.close()
    finally:
        await world.close()


@pytest.mark.postgres
async def test_a_killed_process_connections_stop_counting_after_their_lease(
    pg_url: str, tmp_path: Path
) -> None:
    world = World(pg_url)
    try:
        _a, ca = await world.user("Ada")
        env = {"MAX_CONNECTIONS_PER_USER": "2", "CLASSHUB_CONN_LEASE_SECS": "3"}
        async with two_servers(pg_url, tmp_path, **env) as servers:
            p, q = servers[0].port, servers[1].port
            held = [await HubClient.connect(p, ca), await HubClient.connect(p, ca)]
            assert await refused(q, ca) == 4029
            proc = servers[0].proc
            assert proc is not None
            proc.kill()  # no close, no goodbye: its leases are left in Redis
            proc.wait(5)
            killed = time.monotonic()
            assert await refused(q, ca) == 4029  # still counted: renewed < 1 s before the kill
            first = await connect_when_admitted(q, ca, within=6.0)
            assert time.monotonic() - killed <= 3.0 + 1.0
            second = await HubClient.connect(q, ca)
            assert await refused(q, ca) == 4029  # the cap holds for the survivors
            for c in (first, second):
                await c.close()
            del held
    finally:
        await world.close()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_without_redis_each_process_enforces_its_own_limits(
    db_url: str, tmp_path: Path, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    import redis.asyncio as aioredis

    caplog.set_level(logging.WARNING, "classhub.limits")
    await own_redis.wait_up()
    env = {
        "REDIS_URL": own_redis.url, "MAX_CONNECTIONS_PER_USER": "2", "PUBLISH_RATE": "0.5",
        "PUBLISH_BURST": "2", "CLASSHUB_CONN_LEASE_SECS": "1.5",
    }
    async with Stack(db_url, tmp_path, **env) as st:
        a, ca = await st.world.user("Ada")
        ch = f"event:{await st.world.event((a, Role.PARTICIPANT))}:chat"
        own_redis.stop()
        # Nobody is refused for Redis's sake, and nobody gets more than the local limits.
        c1 = await HubClient.connect(st.port, ca)
        c2 = await HubClient.connect(st.port, ca)
        assert await refused(st.port, ca) == 4029
        answers = [await c1.publish(ch, str(i)) for i in range(3)]
        assert [x["type"] for x in answers] == ["ack", "ack", "error"]  # stored without the broker
        assert answers[2]["code"] == "rate_limited" and 0 < answers[2]["retry_after"] <= 2.0
        assert st.hub.limits.fallbacks >= 3
        outage = [r for r in caplog.records if "could not be asked" in r.getMessage()]
        assert len(outage) == 1  # logged once, not once per check
        # Back: the connections admitted meanwhile are registered by the next renewal.
        own_redis.start()
        await own_redis.wait_up()
        client = aioredis.Redis.from_url(own_redis.url)
        key = f"{st.settings.redis_prefix}:limit:conns:{a}"
        try:
            deadline = time.monotonic() + 10
            while await client.zcard(key) != 2:
                assert time.monotonic() < deadline, "leases not restored"
                await asyncio.sleep(0.1)
        finally:
            await client.aclose()
        for c in (c1, c2):
            await c.close()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_with_half_its_burst_left_a_post_waits_for_no_round_trip_and_the_verdict_holds_next(
    db_url: str, tmp_path: Path
) -> None:
    """A classroom post (the local bucket well filled) is not held up by Redis: it goes on
    and the shared verdict applies to the user's next posts. Here the shared bucket was
    emptied elsewhere (another process): the first post here passes, Redis's refusal
    comes back, and the next is refused with the time it has left."""
    from realtime.limits.redis_limits import RedisLimits

    require_redis()
    async with Stack(
        db_url, tmp_path, REDIS_URL=REDIS_URL, PUBLISH_RATE="0.2", PUBLISH_BURST="6"
    ) as st:
        try:
            a, ca = await st.world.user("Ada")
            ch = f"event:{await st.world.event((a, Role.PARTICIPANT))}:chat"
            elsewhere = RedisLimits(REDIS_URL, prefix=st.settings.redis_prefix)
            try:
                for _ in range(6):
                    assert await elsewhere.take_publish(a, 0.2, 6) == 0.0
                assert (await elsewhere.take_publish(a, 0.2, 6) or 0) > 0  # empty now
            finally:
                await elsewhere.close()
            c = await HubClient.connect(st.port, ca)
            trips = st.hub.limits.round_trips
            first = await c.publish(ch, "goes on")
            assert first["type"] == "ack"  # not held for the shared verdict ...
            deadline = time.monotonic() + 5
            while a not in st.hub.rate_limits._shared_refusals:  # ... which arrives just after
                assert time.monotonic() < deadline, "no verdict"
                await asyncio.sleep(0.01)
            assert st.hub.limits.round_trips == trips + 1
            second = await c.publish(ch, "refused")
            assert second["type"] == "error" and second["code"] == "rate_limited", second
            # The post that went on is charged too: two intervals of 5 s to wait.
            assert 5.0 < second["retry_after"] <= 10.0
            assert st.hub.limits.round_trips == trips + 1  # refused from the verdict, no new trip
            await c.close()
        finally:
            await drop_keys(REDIS_URL, st.settings.redis_prefix)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_classrooms_posts_are_recorded_in_redis_together(
    db_url: str, tmp_path: Path
) -> None:
    """Ten people post once each (their buckets full): no post waits for Redis, and all
    ten are recorded in one round trip at the end of the recording period."""
    require_redis()
    # A slow refill, so the recorded buckets (keys expiring when full again) stay to be seen.
    env = {"REDIS_URL": REDIS_URL, "CLASSHUB_SHARED_RECORD_SECS": "0.5", "PUBLISH_RATE": "0.1"}
    async with Stack(db_url, tmp_path, **env) as st:
        try:
            people = [await st.world.user(f"P{i}") for i in range(10)]
            ch = f"event:{await st.world.event(*[(u, Role.PARTICIPANT) for u, _ in people])}:chat"
            clients = [await HubClient.connect(st.port, cookie) for _, cookie in people]
            trips = st.hub.limits.round_trips
            acks = await asyncio.gather(*[c.publish(ch, "my answer") for c in clients])
            assert [a["type"] for a in acks] == ["ack"] * 10
            assert st.hub.limits.round_trips == trips  # nothing waited for Redis
            deadline = time.monotonic() + 5
            while st.hub.limits.round_trips == trips:
                assert time.monotonic() < deadline, "never recorded"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
            assert st.hub.limits.round_trips == trips + 1  # one for all ten
            # Recorded: each person's shared bucket holds their post.
            import redis.asyncio as aioredis

            r = aioredis.Redis.from_url(REDIS_URL)
            try:
                keys = [f"{st.settings.redis_prefix}:limit:publish:{u}" for u, _ in people]
                assert await r.exists(*keys) == 10
            finally:
                await r.aclose()
            for c in clients:
                await c.close()
        finally:
            await drop_keys(REDIS_URL, st.settings.redis_prefix)
