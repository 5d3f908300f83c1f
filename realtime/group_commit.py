"""The group-commit writer: many publishes, one transaction.

Publishes queue up while a transaction is in flight and go together into the
next one, so at low load a publish waits for nobody and under a burst a
thousand posts cost a handful of commits. ``channel_log.append`` dedups by
(author, client_id) and assigns the gapless sequences. Two processes storing
the same retried publish at the same moment race on the unique constraint;
the loser's batch is rolled back and retried item by item, where the
duplicate is found and answered with the stored event.

On PostgreSQL the writer keeps one asyncpg connection of its own and stores
through ``storage.repo.channel_log_pg`` (prepared statements, no ORM): a
commit costs a few round trips and ~0.2 ms of CPU instead of ~2 ms. On SQLite
it stores through ``storage.repo.channel_log_sqlite``: the whole transaction in
one call on a thread of its own with its own connection. A broken
connection fails its batch (publishers get ``unavailable`` and retry with the
same id, which the store deduplicates) and is replaced on the next one.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from sqlalchemy.exc import SQLAlchemyError

from realtime.errors import PublishFailed
from storage.db import Database
from storage.repo import channel_log, channel_log_pg
from storage.repo.channel_log import NewEvent, StoredEvent
from storage.repo.channel_log_sqlite import SqliteAppender

log = logging.getLogger("classhub.hub")

MAX_BATCH = 500
# What a failed store raises: sqlite3 (SQLite), asyncpg (PostgreSQL), the ORM (both).
STORE_ERRORS = (SQLAlchemyError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError, OSError)
CLOSE_WAIT_SECS = 5.0


@dataclass(slots=True)
class WriteItem:
    event: NewEvent
    author_name: str | None
    # Called (synchronously, in the writer's task) with the stored event or the failure,
    # right after commit and before fan-out: a publisher's ack precedes its event.
    done: Callable[[StoredEvent | PublishFailed], None]


# Synchronous: it answers the publishers and schedules fan-out; the writer goes straight on
# to the next transaction, whose round trip to the store then overlaps that fan-out.
CommitHook = Callable[[list[WriteItem], list[StoredEvent | PublishFailed]], None]


class GroupCommitWriter:
    def __init__(self, db: Database, on_committed: CommitHook) -> None:
        self.db = db
        self.on_committed = on_committed
        self._queue: list[WriteItem] = []
        self._wake: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.retried_singly = 0
        self._pg: asyncpg.Connection | None = None
        self._use_pg = db.engine.dialect.name == "postgresql"
        # (An in-memory SQLite database is per connection: that one stays on the ORM.)
        self._sqlite = None if self._use_pg or SqliteAppender.in_memory(db.url) else SqliteAppender(db.url)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit-writer")

    async def close(self) -> None:
        if self._task is not None:
            # Let queued publishes finish (their senders wait for acks), for a while.
            for _ in range(int(CLOSE_WAIT_SECS / 0.01)):
                if not self._queue:
                    break
                await asyncio.sleep(0.01)
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._pg is not None:
            self._pg.terminate()
            self._pg = None
        if self._sqlite is not None:
            await self._sqlite.close()
        for item in self._queue:
            item.done(PublishFailed("the server is shutting down"))
        self._queue = []

    def submit(self, item: WriteItem) -> None:
        self._queue.append(item)
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wake = loop.create_future()
                await self._wake
                self._wake = None
            batch = self._queue[:MAX_BATCH]
            del self._queue[:MAX_BATCH]
            try:
                results = await self._commit(batch)
                self.batches += 1
                self.on_committed(batch, results)
            except asyncio.CancelledError:
                for item in batch:
                    item.done(PublishFailed("the server is shutting down"))
                raise
            except Exception:
                log.exception("group commit failed unexpectedly")

    async def _append(self, events: list[NewEvent]) -> list[StoredEvent]:
        if self._sqlite is not None:
            return await self._sqlite.append(events)
        if not self._use_pg:
            async with self.db.session() as db:
                return await channel_log.append(db, events)
        conn = self._pg
        if conn is None or conn.is_closed():
            conn = self._pg = await asyncpg.connect(channel_log_pg.asyncpg_dsn(self.db.url))
        try:
            return await channel_log_pg.append(conn, events)
        except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError):
            # The connection is gone (server restart, network): a new one next time.
            self._pg = None
            conn.terminate()
            raise

    async def _commit(self, batch: list[WriteItem]) -> list[StoredEvent | PublishFailed]:
        try:
            return list(await self._append([it.event for it in batch]))
        except STORE_ERRORS as exc:
            if len(batch) == 1:
                log.warning("storing an event failed: %s", type(exc).__name__)
                return [PublishFailed(type(exc).__name__)]
        # A unique-constraint race with another process (or one bad item): one by one.
        self.retried_singly += 1
        out: list[StoredEvent | PublishFailed] = []
        for item in batch:
            out.append(await self._commit_one(item))
        return out

    async def _commit_one(self, item: WriteItem) -> StoredEvent | PublishFailed:
        # Twice: the first attempt can lose the same unique-constraint race again.
        problem = ""
        for _ in range(2):
            try:
                return (await self._append([item.event]))[0]
            except STORE_ERRORS as exc:
                problem = type(exc).__name__
        log.warning("storing an event failed: %s", problem)
        return PublishFailed(problem)
