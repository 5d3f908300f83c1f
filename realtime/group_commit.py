"""The group-commit writer: many publishes, one transaction.

Publishes queue up while a transaction is in flight and go together into the
next one, so at low load a publish waits for nobody and under a burst a
thousand posts cost a handful of commits. ``channel_log.append`` dedups by
(author, client_id) and assigns the gapless sequences. Two processes storing
the same retried publish at the same moment race on the unique constraint;
the loser's batch is rolled back and retried item by item, where the
duplicate is found and answered with the stored event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from realtime.errors import PublishFailed
from storage.db import Database
from storage.repo import channel_log
from storage.repo.channel_log import NewEvent, StoredEvent

log = logging.getLogger("classhub.hub")

MAX_BATCH = 500
CLOSE_WAIT_SECS = 5.0


@dataclass(slots=True)
class WriteItem:
    event: NewEvent
    author_name: str | None
    # Called (synchronously, in the writer's task) with the stored event or the failure,
    # right after commit and before fan-out: a publisher's ack precedes its event.
    done: Callable[[StoredEvent | PublishFailed], None]


CommitHook = Callable[[list[WriteItem], list[StoredEvent | PublishFailed]], Awaitable[None]]


class GroupCommitWriter:
    def __init__(self, db: Database, on_committed: CommitHook) -> None:
        self.db = db
        self.on_committed = on_committed
        self._queue: list[WriteItem] = []
        self._wake: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.retried_singly = 0

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
                await self.on_committed(batch, results)
            except asyncio.CancelledError:
                for item in batch:
                    item.done(PublishFailed("the server is shutting down"))
                raise
            except Exception:
                log.exception("group commit failed unexpectedly")

    async def _commit(self, batch: list[WriteItem]) -> list[StoredEvent | PublishFailed]:
        try:
            async with self.db.session() as db:
                stored = await channel_log.append(db, [it.event for it in batch])
            return list(stored)
        except SQLAlchemyError as exc:
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
                async with self.db.session() as db:
                    return (await channel_log.append(db, [item.event]))[0]
            except SQLAlchemyError as exc:
                problem = type(exc).__name__
        log.warning("storing an event failed: %s", problem)
        return PublishFailed(problem)
