"""The shared limits' Redis adapter: one connection, calls pipelined, never waited on for long.

Every check is one Lua script (realtime/limits/scripts.py). Calls made while a
round trip is in flight go out together in the next one, on a connection of
the limits' own (opened from ``REDIS_URL`` like the broker's, keys under
``REDIS_PREFIX``): a classroom's publishes cost at most one round trip each
and a burst of a thousand costs a handful, and none of them waits behind the
broker's traffic.

Redis not answering is not an error for the caller: each method returns
``None`` ("decide locally") when Redis could not be asked within
``TIMEOUT_SECS``, and for ``RETRY_SECS`` after a failure it is not asked at
all (realtime/limits/outage.py), so a dead Redis costs the hot path one
timeout per retry period at most, never a wait per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError, ResponseError

from realtime.limits.outage import Outage
from realtime.limits.scripts import (
    CONN_ACQUIRE,
    CONN_REFRESH,
    MAIL_WINDOW,
    PUBLISH_GCRA,
    PUBLISH_RECORD,
    SCRIPTS,
    Script,
)

# Redis on the same network answers in well under a millisecond; a limit check
# that takes longer than this is decided locally instead of holding up the post.
TIMEOUT_SECS = 0.25
# After a failure, decide locally for this long before probing Redis again.
RETRY_SECS = 2.0

Command = tuple[Any, ...]


class Unavailable(Exception):
    """Redis could not be asked (down, slow, broken connection)."""


class RedisLimits:
    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        timeout_secs: float = TIMEOUT_SECS,
        retry_secs: float = RETRY_SECS,
    ) -> None:
        self.keys = prefix + ":limit:"
        self.timeout_secs = timeout_secs
        self.outage = Outage("shared limits", retry_secs)
        # Only its connection factory is used: URL parsing (TLS, unix sockets, auth,
        # database number) exactly as for the broker.
        self._pool = aioredis.ConnectionPool.from_url(url)
        self._conn: Any = None
        self._queue: list[tuple[Command, asyncio.Future[Any]]] = []
        self._sender: asyncio.Task[None] | None = None
        # Checks decided locally because Redis could not be asked (a metric).
        self.fallbacks = 0
        self.round_trips = 0

    # The limits.

    async def take_publish(
        self, user_id: int, rate: float, burst: int, *, record_first: int = 0
    ) -> float | None:
        """0.0 when the user may publish now (the token is taken), else seconds to wait;
        None when Redis could not be asked. ``record_first``: posts of the user already
        granted here and not recorded yet, recorded in the same round trip before."""
        interval = max(1, round(1_000_000 / rate))
        key = f"{self.keys}publish:{user_id}"
        take = _script(PUBLISH_GCRA, [key], interval, burst)
        if not record_first:
            reply = await self._call(take)
            return None if reply is None else int(reply) / 1_000_000
        replies = await self._call_many(
            [_script(PUBLISH_RECORD, [key], interval, burst, record_first), take]
        )
        return None if replies is None else int(replies[1]) / 1_000_000

    async def take(self, kind: str, user_id: int, rate: float, burst: int) -> float | None:
        """A token bucket of the user's other than publishes (``kind``: ``write``,
        ``subscribe``): 0.0 when granted (the token is taken), else seconds to wait;
        None when Redis could not be asked."""
        interval = max(1, round(1_000_000 / rate))
        reply = await self._call(
            _script(PUBLISH_GCRA, [f"{self.keys}{kind}:{user_id}"], interval, burst)
        )
        return None if reply is None else int(reply) / 1_000_000

    async def record_publishes(
        self, counts: Mapping[int, int], rate: float, burst: int
    ) -> dict[int, float] | None:
        """Record posts already granted (user -> how many) in one round trip; returns the
        seconds until each user's next post is allowed (0.0: now), or None when Redis
        could not be asked."""
        interval = max(1, round(1_000_000 / rate))
        users = list(counts)
        replies = await self._call_many(
            [
                _script(PUBLISH_RECORD, [f"{self.keys}publish:{u}"], interval, burst, counts[u])
                for u in users
            ]
        )
        if replies is None:
            return None
        return {u: int(r) / 1_000_000 for u, r in zip(users, replies, strict=True)}

    async def acquire_connection(
        self, user_id: int, conn_id: str, limit: int, lease_secs: float
    ) -> bool | None:
        """True when the connection is leased, False at the cap.

        None when Redis could not be asked."""
        reply = await self._call(
            _script(CONN_ACQUIRE, [self._conns_key(user_id)], limit, _us(lease_secs), conn_id)
        )
        return None if reply is None else bool(int(reply))

    async def refresh_connections(
        self, held: Mapping[int, Iterable[str]], lease_secs: float
    ) -> bool:
        """Renew (or restore) the leases of every connection this process holds: one round trip."""
        lease = _us(lease_secs)
        commands = [
            _script(CONN_REFRESH, [self._conns_key(user_id)], lease, *ids)
            for user_id, ids in held.items() if ids
        ]
        return not commands or await self._call_many(commands) is not None

    async def release_connections(self, released: Sequence[tuple[int, str]]) -> bool:
        by_user: dict[int, list[str]] = {}
        for user_id, conn_id in released:
            by_user.setdefault(user_id, []).append(conn_id)
        commands = [("ZREM", self._conns_key(u), *ids) for u, ids in by_user.items()]
        return not commands or await self._call_many(commands) is not None

    async def mail_start(self, limit: int, window_secs: float, start_id: str) -> float | None:
        """0.0 when a mail may start now (recorded), else seconds to wait; None when
        Redis could not be asked."""
        reply = await self._call(
            _script(MAIL_WINDOW, [self.keys + "mail"], limit, _us(window_secs), start_id)
        )
        return None if reply is None else int(reply) / 1_000_000

    def _conns_key(self, user_id: int) -> str:
        return f"{self.keys}conns:{user_id}"

    # Calls.

    async def _call(self, command: Command) -> Any:
        replies = await self._call_many([command])
        return None if replies is None else replies[0]

    async def _call_many(self, commands: Sequence[Command]) -> list[Any] | None:
        """The replies in order.

        None when Redis could not be asked (the caller decides locally)."""
        if not self.outage.usable(time.monotonic()):
            self.fallbacks += len(commands)
            return None
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in commands]
        self._queue.extend(zip(commands, futures, strict=True))
        if self._sender is None:
            self._sender = loop.create_task(self._send_queued(), name="shared-limits")
        try:
            if len(futures) == 1:
                return [await futures[0]]
            await asyncio.wait(futures)
        except Unavailable:
            self.fallbacks += 1
            return None
        except asyncio.CancelledError:
            for f in futures:
                f.cancel()  # the sender skips them; nothing is left unretrieved
            raise
        if [e for e in [f.exception() for f in futures] if e is not None]:
            self.fallbacks += len(commands)
            return None
        return [f.result() for f in futures]

    async def _send_queued(self) -> None:
        # The only user of the connection: one batch at a time, replies read in order.
        batch: list[tuple[Command, asyncio.Future[Any]]] = []
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                self.round_trips += 1
                try:
                    async with asyncio.timeout(self.timeout_secs):
                        await self._round_trip(batch)
                except (RedisError, OSError, TimeoutError) as exc:
                    # Broken, too slow or refusing (an error reply): the callers still
                    # waiting decide locally. A connection cut short is out of step: drop it.
                    await self._drop_connection()
                    self.outage.failed(time.monotonic(), exc)
                    # Those queued meanwhile would only wait for the same fate.
                    batch += self._queue
                    self._queue = []
                    _fail(batch, Unavailable(repr(exc)))
                else:
                    self.outage.succeeded(time.monotonic())
        finally:
            # Cancelled (only ``close`` does that), maybe in the middle of a round trip:
            # nobody may wait for ever, they decide locally. ``close`` drops the
            # connection, whose replies may be out of step now.
            self._sender = None
            left, self._queue = batch + self._queue, []
            _fail(left, Unavailable("closed"))

    async def _round_trip(self, batch: list[tuple[Command, asyncio.Future[Any]]]) -> None:
        conn = self._conn
        if conn is None:
            conn = self._conn = self._pool.make_connection()  # type: ignore[no-untyped-call]
        await conn.send_packed_command(
            conn.pack_commands([c for c, _ in batch]), check_health=False
        )
        unknown: list[tuple[Command, asyncio.Future[Any]]] = []
        error: ResponseError | None = None
        for command, fut in batch:
            try:
                reply = await conn.read_response()
            except ResponseError as exc:
                if isinstance(exc, NoScriptError) and command[0] == "EVALSHA":
                    unknown.append((command, fut))  # Redis restarted: send the script itself
                else:
                    error = exc  # e.g. READONLY after a failover: raised once all replies are read
                continue
            if not fut.done():
                fut.set_result(reply)
        if unknown:
            again = [(("EVAL", SCRIPTS[c[1]].body, *c[2:]), f) for c, f in unknown]
            await conn.send_packed_command(
                conn.pack_commands([c for c, _ in again]), check_health=False
            )
            for _, fut in again:
                try:
                    reply = await conn.read_response()
                except ResponseError as exc:
                    error = exc
                    continue
                if not fut.done():
                    fut.set_result(reply)
        if error is not None:
            raise error

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.disconnect(nowait=True)

    async def close(self) -> None:
        """Stop the sender and close the connection; a later call opens a new one."""
        sender = self._sender
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        await self._drop_connection()
        await self._pool.aclose()


def _script(script: Script, keys: list[str], *args: Any) -> Command:
    return ("EVALSHA", script.sha, len(keys), *keys, *args)


def _us(secs: float) -> int:
    return max(1, round(secs * 1_000_000))


def _fail(batch: list[tuple[Command, asyncio.Future[Any]]], exc: Exception) -> None:
    for _, fut in batch:
        if not fut.done():
            fut.set_exception(exc)
