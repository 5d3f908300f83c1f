"""A batch writer for HTTP writes that arrive in bursts: many requests, one transaction.

The group-commit writer (``group_commit.py``) does this for chat publishes;
this one does it for any write that an ``apply`` function can run for a list
of requests in one transaction, such as note releases
(``storage.repo.pinboard_release``). Requests queue while a transaction is in
flight and go together into the next one: at low load a request waits for
nobody, and under a burst a thousand requests cost a handful of commits.

Guarantees, the same as group commit's:

* a request's answer is set only after its transaction committed, and before
  the batch's events are fanned out;
* ``apply`` answers a refused request with a ``DomainError`` *outcome*, which
  leaves the rest of its batch alone;
* a database error fails the transaction: the writer then retries the batch
  one request at a time (each in its own transaction, twice), so one bad item
  or a lost race with another process costs only that request, which is
  answered 503 ``store_unavailable``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.errors import DomainError
from storage.repo.channel_log import StoredEvent

log = logging.getLogger("classhub.batch")

Req = TypeVar("Req")

MAX_BATCH = 500
CLOSE_WAIT_SECS = 5.0


class StoreUnavailable(DomainError):
    status = 503

    def __init__(self, problem: str) -> None:
        super().__init__(
            "store_unavailable", f"the change could not be stored ({problem}); try again"
        )


@dataclass(slots=True)
class Applied:
    """What ``apply`` returns: one outcome per request (in order), and the events to fan out."""

    outcomes: list[Any]  # a result, or a DomainError to raise in that request
    events: list[StoredEvent]


Apply = Callable[[AsyncSession, list[Req]], Awaitable[Applied]]
FanOut = Callable[[list[StoredEvent]], Awaitable[None]]


class BatchWriter(Generic[Req]):
    def __init__(
        self,
        db: Database,
        apply: Apply[Req],
        fan_out: FanOut,
        *,
        name: str,
        exclusive: Callable[[], AbstractAsyncContextManager[Any]] | None = None,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.db = db
        self.apply = apply
        self.fan_out = fan_out
        self.name = name
        # On SQLite: the process's one-writer lock, shared with the other board writes.
        self.exclusive = exclusive or nullcontext
        self.max_batch = max_batch
        self._queue: list[tuple[Req, asyncio.Future[Any]]] = []
        self._wake: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._busy = False  # a batch is taken from the queue and not yet answered
        self._closing = False
        self.batches = 0
        self.retried_singly = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"batch-writer-{self.name}")

    async def close(self) -> None:
        self._closing = True  # new requests are refused from now on
        if self._task is not None:
            # Let queued requests and the batch in flight finish (their clients wait for
            # the answer; cancelling a commit would leave them not knowing), for a while.
            for _ in range(int(CLOSE_WAIT_SECS / 0.01)):
                if not self._queue and not self._busy:
                    break
                await asyncio.sleep(0.01)
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._fail(self._queue, StoreUnavailable("the server is shutting down"))
        self._queue = []

    async def submit(self, req: Req) -> Any:
        """The request's outcome once its transaction committed; raises its DomainError."""
        if self._closing:
            raise StoreUnavailable("the server is shutting down")
        if self._task is None:
            raise RuntimeError(f"batch writer {self.name} is not running")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        # The answer of a client that hung up is nobody's: retrieve it so that asyncio
        # does not log "exception was never retrieved".
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._queue.append((req, fut))
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)
        # Shielded: a client that hangs up does not cancel the work it queued, which
        # may be committing right now; it only stops waiting for the answer.
        return await asyncio.shield(fut)

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
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            self._busy = True
            try:
                events = await self._commit(batch)
                self.batches += 1
                if events:
                    await self.fan_out(events)
            except asyncio.CancelledError:
                self._fail(batch, StoreUnavailable("the server is shutting down"))
                raise
            except Exception:
                log.exception("batch writer %s failed unexpectedly", self.name)
                self._fail(batch, StoreUnavailable("internal error"))
            finally:
                self._busy = False

    async def _commit(self, batch: list[tuple[Req, asyncio.Future[Any]]]) -> list[StoredEvent]:
        try:
            applied = await self._transaction([req for req, _ in batch])
        except SQLAlchemyError as exc:
            if len(batch) == 1:
                log.warning("batch writer %s: storing failed: %s", self.name, type(exc).__name__)
                self._fail(batch, StoreUnavailable(type(exc).__name__))
                return []
            # One bad item, or a race with another process: one by one.
            self.retried_singly += 1
            events: list[StoredEvent] = []
            for item in batch:
                events.extend(await self._commit_one(item))
            return events
        self._answer(batch, applied.outcomes)
        return applied.events

    async def _commit_one(self, item: tuple[Req, asyncio.Future[Any]]) -> list[StoredEvent]:
        # Twice: the first attempt can lose the same race again.
        problem = ""
        for _ in range(2):
            try:
                applied = await self._transaction([item[0]])
            except SQLAlchemyError as exc:
                problem = type(exc).__name__
                continue
            self._answer([item], applied.outcomes)
            return applied.events
        log.warning("batch writer %s: storing failed: %s", self.name, problem)
        self._fail([item], StoreUnavailable(problem))
        return []

    async def _transaction(self, reqs: list[Req]) -> Applied:
        async with self.exclusive(), self.db.session() as db:
            applied = await self.apply(db, reqs)
        if len(applied.outcomes) != len(reqs):
            raise RuntimeError(
                f"batch writer {self.name}: apply answered {len(applied.outcomes)} "
                f"of {len(reqs)} requests"
            )
        return applied

    @staticmethod
    def _answer(batch: list[tuple[Any, asyncio.Future[Any]]], outcomes: list[Any]) -> None:
        for (_, fut), outcome in zip(batch, outcomes, strict=True):
            if fut.done():
                continue
            if isinstance(outcome, DomainError):
                fut.set_exception(outcome)
            else:
                fut.set_result(outcome)

    @staticmethod
    def _fail(batch: list[tuple[Any, asyncio.Future[Any]]], error: DomainError) -> None:
        for _, fut in batch:
            if not fut.done():
                fut.set_exception(error)
