"""The batch writer (group commit): many requests, one transaction.

Used for chat publishes (the hub, through ``event_writer``: a request is an
event to append, stored by the appender ``storage.event_log`` picks) and for
note releases (``web/routes/pinboard_release.py``: a request is a release), and fit for
any write that a ``transact`` function can run for a list of requests in one
transaction. Requests queue while a transaction is in flight and go together
into the next one, at most ``max_batch`` at a time: at low load a request
waits for nobody, and under a burst a thousand requests cost a handful of
commits. Guarantees:

* a request's answer is given only after its transaction committed, and
  before ``on_committed`` (the batch's fan-out) is called: both run
  synchronously in the writer's task, so a publisher's ack precedes its event;
  the writer goes straight on to the next transaction, whose round trip to the
  store then overlaps the fan-out;
* ``transact`` answers a refused request with a ``DomainError`` *outcome*,
  which leaves the rest of its batch alone;
* a store error (``STORE_ERRORS``) fails the transaction and stores nothing:
  the writer then retries the batch one request at a time (each in its own
  transaction, twice), so one bad item or a lost race with another process
  (two processes storing the same retried publish on the unique constraint)
  costs only that request, which is answered ``StoreUnavailable``; the store
  itself (``channel_log.append``) answers a retried publish with the event
  stored before;
* ``close()`` refuses new requests, lets the queue and the transaction in
  flight finish for a while (their clients wait for the answer: cancelling a
  commit would leave them not knowing), then answers what is left
  ``StoreUnavailable``.

Answers are callbacks (``submit``: the hub pushes an ack frame) or awaited
(``call``: an HTTP request). Nothing here raises an HTTP error: web maps
``StoreUnavailable`` (a ``DomainError``, code ``store_unavailable``) to 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from storage.db import Database
from storage.errors import DomainError, StoreUnavailable
from storage.event_log import STORE_ERRORS, WriteItem, open_appender
from storage.repo.channel_log import StoredEvent

log = logging.getLogger("classhub.batch")

Req = TypeVar("Req")
Out = TypeVar("Out")

MAX_BATCH = 500
CLOSE_WAIT_SECS = 5.0
SHUTTING_DOWN = "the server is shutting down"

# One transaction for the batch: one outcome per request, in order (a refusal is a
# DomainError outcome); raises one of STORE_ERRORS when nothing could be stored.
Transact = Callable[[list[Req]], Awaitable[Sequence[Out]]]
# Called with a request's outcome, or StoreUnavailable; synchronous, in the writer's task.
Answer = Callable[[Out | StoreUnavailable], None]
# After the answers, with the whole batch: hands its events to fan-out without waiting.
CommitHook = Callable[[list[Req], Sequence[Out | StoreUnavailable]], None]


def _ignore(*_: object) -> None:
    return None


class BatchWriter(Generic[Req, Out]):
    def __init__(
        self,
        transact: Transact[Req, Out],
        on_committed: CommitHook[Req, Out] | None = None,
        *,
        name: str,
        max_batch: int = MAX_BATCH,
        close_wait: float = CLOSE_WAIT_SECS,
        release: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.transact = transact
        self.on_committed: CommitHook[Req, Out] = on_committed or _ignore
        self.name = name
        self.max_batch = max_batch
        self.close_wait = close_wait
        self._release = release  # after the last batch: the appender's connection, thread
        # The queue, as two parallel lists: no pair allocated per request on the hot path.
        self._reqs: list[Req] = []
        self._answers: list[Answer[Out]] = []
        self._wake: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._busy = False  # a batch is taken from the queue and not yet answered
        self._closing = False
        self.batches = 0
        self.retried_singly = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"batch-writer-{self.name}"
        )

    async def close(self) -> None:
        self._closing = True  # new requests are refused from now on
        if self._task is not None:
            for _ in range(int(self.close_wait / 0.01)):
                if not self._reqs and not self._busy:
                    break
                await asyncio.sleep(0.01)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        answers, self._reqs, self._answers = self._answers, [], []
        self._fail(answers, SHUTTING_DOWN)
        if self._release is not None:
            release, self._release = self._release, None
            await release()

    @property
    def queued(self) -> int:
        return len(self._reqs)

    def submit(self, req: Req, answer: Answer[Out]) -> None:
        """Queue ``req``; ``answer`` is called once with its outcome after commit (or
        with ``StoreUnavailable``). Once closing, it is called at once."""
        if self._closing:
            answer(StoreUnavailable(SHUTTING_DOWN))
            return
        self._reqs.append(req)
        self._answers.append(answer)
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def call(self, req: Req) -> Out:
        """The request's outcome once its transaction committed; a ``DomainError``
        outcome (and ``StoreUnavailable``) is raised."""
        if self._task is None and not self._closing:
            raise RuntimeError(f"batch writer {self.name} is not running")
        fut: asyncio.Future[Out] = asyncio.get_running_loop().create_future()

        def answer(outcome: Out | StoreUnavailable) -> None:
            if fut.done():
                return
            if isinstance(outcome, DomainError):
                fut.set_exception(outcome)
            else:
                fut.set_result(outcome)

        # The answer of a client that hung up is nobody's: retrieve it so that asyncio
        # does not log "exception was never retrieved".
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.submit(req, answer)
        # Shielded: a client that hangs up does not cancel the work it queued, which
        # may be committing right now; it only stops waiting for the answer.
        return await asyncio.shield(fut)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        n = self.max_batch
        while True:
            if not self._reqs:
                self._wake = loop.create_future()
                await self._wake
                self._wake = None
            reqs, answers = self._reqs[:n], self._answers[:n]
            del self._reqs[:n], self._answers[:n]
            self._busy = True
            try:
                outcomes = await self._commit(reqs)
            except asyncio.CancelledError:
                self._busy = False
                self._fail(answers, SHUTTING_DOWN)
                raise
            except Exception:
                self._busy = False
                log.exception("batch writer %s failed unexpectedly", self.name)
                self._fail(answers, "internal error")
                continue
            self.batches += 1
            try:
                for answer, outcome in zip(answers, outcomes, strict=True):
                    answer(outcome)
                self.on_committed(reqs, outcomes)
            except Exception:
                log.exception("batch writer %s: answering a committed batch failed", self.name)
            finally:
                self._busy = False

    async def _commit(self, reqs: list[Req]) -> Sequence[Out | StoreUnavailable]:
        try:
            return self._checked(reqs, await self.transact(reqs))
        except STORE_ERRORS as exc:
            if len(reqs) == 1:
                log.warning("batch writer %s: storing failed: %s", self.name, type(exc).__name__)
                return [StoreUnavailable(type(exc).__name__)]
        # One bad item, or a race with another process: one by one.
        self.retried_singly += 1
        return [await self._commit_one(req) for req in reqs]

    async def _commit_one(self, req: Req) -> Out | StoreUnavailable:
        # Twice: the first attempt can lose the same race again.
        problem = ""
        for _ in range(2):
            try:
                return self._checked([req], await self.transact([req]))[0]
            except STORE_ERRORS as exc:
                problem = type(exc).__name__
        log.warning("batch writer %s: storing failed: %s", self.name, problem)
        return StoreUnavailable(problem)

    def _checked(self, reqs: list[Req], outcomes: Sequence[Out]) -> Sequence[Out]:
        if len(outcomes) != len(reqs):
            raise RuntimeError(
                f"batch writer {self.name}: transact answered {len(outcomes)} "
                f"of {len(reqs)} requests"
            )
        return outcomes

    @staticmethod
    def _fail(answers: list[Answer[Out]], problem: str) -> None:
        for answer in answers:
            try:
                answer(StoreUnavailable(problem))
            except Exception:
                log.exception("answering a failed request failed")


def event_writer(
    db: Database, on_committed: CommitHook[WriteItem, StoredEvent], *, name: str = "events"
) -> BatchWriter[WriteItem, StoredEvent]:
    """The writer of the event log (chat publishes): each batch is one
    ``channel_log.append`` through the appender of ``db``'s dialect."""
    appender = open_appender(db)
    append = appender.append

    def transact(items: list[WriteItem]) -> Awaitable[list[StoredEvent]]:
        return append([it.event for it in items])  # the appender's coroutine, no frame between

    return BatchWriter(transact, on_committed, name=name, release=appender.close)
