"""Several server processes sharing PostgreSQL and Redis, as in production.

Each test starts real ``classhub serve`` processes on free ports (and, for the
restart test, its own ``redis-server``), and stops everything it started.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from storage.db import Database
from storage.models import Role
from tests.hub_support import (
    HubClient,
    ServerProcess,
    World,
    frame_where,
    make_settings,
    seqs,
    server_env,
)
from tests.redis_support import RedisServer
from tests.services import REDIS_URL, require_postgres, require_redis

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]

FAST = {"PUBLISH_RATE": "10000", "PUBLISH_BURST": "10000"}


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> str:
    require_postgres()
    return str(request.getfixturevalue("_postgres_url"))


@asynccontextmanager
async def cluster(
    pg_url: str, tmp_path: Path, redis_url: str, n: int = 2, **env: str
) -> AsyncIterator[tuple[list[ServerProcess], dict[str, str]]]:
    base = server_env(pg_url, tmp_path / "var", REDIS_URL=redis_url, **FAST, **env)
    servers = [ServerProcess(base) for _ in range(n)]
    try:
        for s in servers:
            s.start()
        for s in servers:
            await s.wait_ready()
        yield servers, base
    finally:
        for s in servers:
            s.stop()


async def test_two_processes_deliver_both_ways_then_drain_on_sigterm(
    pg_url: str, tmp_path: Path
) -> None:
    require_redis()
    world = World(pg_url)
    try:
        a, ca = await world.user("Ada")
        b, cb = await world.user("Bob")
        ev = await world.event((a, Role.PARTICIPANT), (b, Role.PARTICIPANT))
        ch = f"event:{ev}:chat"
        async with cluster(pg_url, tmp_path, REDIS_URL) as (servers, env):
            x = await HubClient.connect(servers[0].port, ca)
            y = await HubClient.connect(servers[1].port, cb, proto="msgpack")
            assert x.hello and y.hello and x.hello["node"] != y.hello["node"]
            # `classhub serve` declines permessage-deflate (offered by this client, as by
            # every browser): its zlib state would be most of a connection's memory.
            assert x.ws.response is not None
            assert x.ws.response.headers.get("Sec-WebSocket-Extensions") is None
            await x.subscribe(ch, presence=True)
            assert (await x.recv_type("presence"))["present"] == [{"id": a, "name": "Ada"}]
            await y.subscribe(ch, presence=True)
            # Ada's attendance (on the first process) reaches Bob's process: in its snapshot,
            # or as a join right after.
            ada = {"id": a, "name": "Ada"}
            await frame_where(
                y,
                lambda f: (
                    f["type"] == "presence"
                    and (ada in f.get("present", []) or ada in f.get("joined", []))
                ),
            )

            async def talk(c: HubClient, tag: str) -> None:
                for i in range(40):
                    assert (await c.publish(ch, f"{tag}{i}"))["type"] == "ack"

            await asyncio.gather(talk(x, "x"), talk(y, "y"))
            for c in (x, y):
                got = await c.wait_events(ch, 80)
                assert seqs(got) == list(range(1, 81))
                texts = [e["body"]["text"] for e in got]
                assert [t for t in texts if t[0] == "x"] == [f"x{i}" for i in range(40)]
            # Presence crosses processes: Bob (on the other process) shows up for Ada.
            await frame_where(
                x,
                lambda f: f["type"] == "presence" and f.get("joined") == [{"id": b, "name": "Bob"}],
            )
            # The control topic: a hub elsewhere (here: in the test process) disconnects Bob.
            from realtime.hub import Hub

            settings = make_settings(
                pg_url, tmp_path / "third", REDIS_URL=REDIS_URL, REDIS_PREFIX=env["REDIS_PREFIX"]
            )
            db = Database(pg_url)
            third = Hub(settings, db)
            await third.start()
            try:
                await third.disconnect_user(b, "blocked")
                with pytest.raises(ConnectionClosed) as err:
                    while True:
                        await y.recv()
                assert err.value.rcvd is not None and err.value.rcvd.code == 4401
                await frame_where(x, lambda f: f["type"] == "presence" and f.get("left") == [b])
            finally:
                await third.close()
                await db.close()
            # SIGTERM: the process closes its connections with 1012 and exits; the client
            # recovers on the other process from the last sequence it saw.
            last = x.events[ch][-1]["seq"]
            servers[0].terminate()
            with pytest.raises(ConnectionClosed) as err:
                while True:
                    await x.recv()
            assert err.value.rcvd is not None and err.value.rcvd.code == 1012
            other = await HubClient.connect(servers[1].port, cb)
            for i in range(3):
                await other.publish(ch, f"after{i}")
            back = await HubClient.connect(servers[1].port, ca)
            ans = await back.subscribe((ch, last))
            assert ans["channels"][0] == {"channel": ch, "status": "recovered", "seq": last + 3}
            assert seqs(await back.wait_events(ch, 3)) == [last + 1, last + 2, last + 3]
            assert servers[0].proc is not None and servers[0].proc.wait(15) == 0
            await back.close()
            await other.close()
    finally:
        await world.close()


async def test_redis_restart_mid_stream_loses_and_duplicates_nothing(
    pg_url: str, tmp_path: Path, own_redis: RedisServer
) -> None:
    await own_redis.wait_up()
    world = World(pg_url)
    total = 60
    try:
        a, ca = await world.user("Ada")
        b, cb = await world.user("Bob")
        ch = f"event:{await world.event((a, Role.PARTICIPANT), (b, Role.PARTICIPANT))}:chat"
        async with cluster(pg_url, tmp_path, own_redis.url, CLASSHUB_HEAD_CHECK_SECS="1") as (
            servers,
            _,
        ):
            pub = await HubClient.connect(servers[0].port, ca)
            local = await HubClient.connect(servers[0].port, cb)
            remote = await HubClient.connect(servers[1].port, cb, proto="msgpack")
            await local.subscribe(ch)
            await remote.subscribe(ch)
            for i in range(total):
                if i == total // 3:
                    own_redis.stop()  # Redis dies mid-stream ...
                if i == total // 2:
                    own_redis.start()  # ... and comes back empty
                    await own_redis.wait_up()
                ack = await pub.publish(ch, f"m{i}")
                assert ack["type"] == "ack", ack  # the store takes writes while the broker is away
            for c in (local, remote):
                got = await c.wait_events(ch, total, timeout=30)
                assert seqs(got) == list(range(1, total + 1))
                await asyncio.sleep(0.3)  # nothing more (no duplicates) trickles in
                with pytest.raises(TimeoutError):
                    await c.recv(timeout=0.5)
                assert len(c.events[ch]) == total
            for c in (pub, local, remote):
                await c.close()
    finally:
        await world.close()


class CuttableProxy:
    """A TCP proxy in front of PostgreSQL that the test can cut: every connection
    through it is aborted and new ones are refused until it is restored, which is
    what a database restart or failover looks like from the servers."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.host, self.target_port = parts.hostname or "127.0.0.1", parts.port or 5432
        self.target = target
        self.down = False
        self.transports: set[asyncio.WriteTransport] = set()
        self.server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return self.target.replace(f":{self.target_port}/", f":{self.port}/", 1)

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer.transport, up_writer.transport)
        self.transports.update(pair)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, ConnectionError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self.transports.difference_update(pair)

    def cut(self) -> None:
        self.down = True
        for t in list(self.transports):
            t.abort()

    def restore(self) -> None:
        self.down = False

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_postgres_outage_mid_stream_answers_unavailable_then_loses_nothing(
    pg_url: str, tmp_path: Path
) -> None:
    """The database goes away under two servers (restart, failover) and comes back:
    publishes in between are answered `unavailable` on a connection that stays open,
    /readyz says so, and once it is back the retries (same ids) and new posts reach
    every subscriber once, in order, with no gap."""
    require_redis()
    world = World(pg_url)
    proxy = CuttableProxy(pg_url)
    await proxy.start()
    try:
        a, ca = await world.user("Ada")
        b, cb = await world.user("Bob")
        ch = f"event:{await world.event((a, Role.PARTICIPANT), (b, Role.PARTICIPANT))}:chat"
        async with cluster(proxy.url, tmp_path, REDIS_URL, CLASSHUB_HEAD_CHECK_SECS="1") as (
            servers,
            _,
        ):
            pub = await HubClient.connect(servers[0].port, ca)
            local = await HubClient.connect(servers[0].port, cb)
            remote = await HubClient.connect(servers[1].port, cb, proto="msgpack")
            await local.subscribe(ch)
            await remote.subscribe(ch)
            for i in range(10):
                assert (await pub.publish(ch, f"m{i}"))["type"] == "ack"

            proxy.cut()
            failed = []
            for i in range(10, 13):
                cid = f"outage-{i}"
                answer = await pub.publish(ch, f"m{i}", cid=cid)
                assert answer["type"] == "error" and answer["code"] == "unavailable", answer
                failed.append((cid, f"m{i}"))
            async with httpx.AsyncClient() as http:
                ready = await http.get(f"http://127.0.0.1:{servers[1].port}/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["database"] != "ok"

            proxy.restore()
            for cid, text in failed:  # the client's retry: same ids
                answer = await pub.publish(ch, text, cid=cid)
                assert answer["type"] == "ack", answer
            again = await pub.publish(ch, failed[0][1], cid=failed[0][0])  # a second retry
            assert again["type"] == "ack" and again["seq"] == 11, again
            for i in range(13, 20):
                assert (await pub.publish(ch, f"m{i}"))["type"] == "ack"
            for c in (local, remote):
                got = await c.wait_events(ch, 20, timeout=30)
                assert seqs(got) == list(range(1, 21))
                assert [e["body"]["text"] for e in got] == [f"m{i}" for i in range(20)]
                with pytest.raises(TimeoutError):  # and nothing twice
                    await c.recv(timeout=0.5)
            for c in (pub, local, remote):
                await c.close()
    finally:
        await proxy.close()
        await world.close()
