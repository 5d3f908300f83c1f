"""Q&A upvotes, batched, and their counts, coalesced.

Upvotes come in bursts ("vote for the questions you want answered"): each goes
to one batch writer (``storage/batch_writer.py``: many votes, one transaction,
answered after commit). A committed batch does not send a frame per vote: it
marks its Q&As dirty, and a dirty Q&A's counts are read from the store and
published as one ``qa.votes`` event on its channel at most every
``VOTES_INTERVAL_SECS`` per process. The event is stored (a late or resuming
subscriber replays the newest counts) and reaches other processes like any
event. It carries the Q&A's ``vote_version``: with several processes, events
can arrive out of order, and clients keep the highest version. The last batch
of a burst marks its Q&A after its commit, so the last event counts every vote
(docs/qa.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from realtime.errors import PublishFailed
from storage.batch_writer import BatchWriter
from storage.errors import StoreUnavailable
from storage.event_types import QA_VOTES
from storage.models import QuestionBoard
from storage.repo.channel_log import NewEvent
from storage.repo.qa_votes import Voted, VoteOutcome, VoteRequest, vote_counts, vote_many
from web.services import Services
from web.sqlite_writer import sqlite_writer

log = logging.getLogger("classhub.qa")

QA_LIVE = "qa.live"
# Four updates a second per Q&A: counts that move smoothly, and a thousand votes in a
# second cost four fan-outs to every screen instead of a thousand.
VOTES_INTERVAL_SECS = 0.25
CLOSE_WAIT_SECS = 3.0


class QaLive:
    """This process's vote writer and count pacer (one per app, in ``services.extras``)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.writer: BatchWriter[VoteRequest, VoteOutcome] = BatchWriter(
            self._transact, self._committed, name="qa-votes"
        )
        self._last_sent: dict[int, float] = {}
        self._pending: dict[int, asyncio.Task[None]] = {}
        self.counts_sent = 0

    async def _transact(self, reqs: list[VoteRequest]) -> list[VoteOutcome]:
        async with sqlite_writer(self.services), self.services.db.session() as db:
            return await vote_many(db, reqs)

    def _committed(
        self, reqs: list[VoteRequest], outcomes: Sequence[VoteOutcome | StoreUnavailable]
    ) -> None:
        for qa_id in {o.qa_id for o in outcomes if isinstance(o, Voted)}:
            self.counts_soon(qa_id)

    async def vote(self, req: VoteRequest) -> Voted:
        outcome = await self.writer.call(req)  # a refusal is raised
        if not isinstance(outcome, Voted):
            raise TypeError(f"a vote came back as {type(outcome).__name__}")
        return outcome

    def counts_soon(self, qa_id: int) -> None:
        """Publish the Q&A's counts soon: at once if none went out for a while, else when
        the interval is over. Marks while one is pending join it."""
        if qa_id in self._pending:
            return
        due = self._last_sent.get(qa_id, 0.0) + VOTES_INTERVAL_SECS
        delay = max(0.0, due - time.monotonic())
        self._pending[qa_id] = asyncio.get_running_loop().create_task(
            self._send(qa_id, delay), name=f"qa-votes-{qa_id}"
        )

    async def _send(self, qa_id: int, delay: float) -> None:
        await asyncio.sleep(delay)
        # Unmarked before reading: a commit from now on marks again and gets a later event.
        del self._pending[qa_id]
        self._last_sent[qa_id] = time.monotonic()
        hub = self.services.hub
        if hub is None:
            return
        try:
            async with self.services.db.session() as db:
                board = await db.get(QuestionBoard, qa_id)
                if board is None:
                    return
                version, votes = await vote_counts(db, qa_id)
                event = NewEvent(board.channel, QA_VOTES,
                                 {"qa_id": qa_id, "version": version, "votes": votes})
            await hub.publish(event)
            self.counts_sent += 1
        except (PublishFailed, StoreUnavailable) as exc:
            log.warning("the vote counts of Q&A %d were not sent: %s", qa_id, exc)
        except Exception:  # a task boundary: log it, the next vote sends counts again
            log.exception("the vote counts of Q&A %d failed", qa_id)

    async def close(self) -> None:
        await self.writer.close()
        pending = list(self._pending.values())
        if pending:  # the last batches' counts
            await asyncio.wait(pending, timeout=CLOSE_WAIT_SECS)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def qa_live(services: Services) -> QaLive:
    found: QaLive = services.extras[QA_LIVE]
    return found


@asynccontextmanager
async def qa_votes(services: Services) -> AsyncIterator[None]:
    """For the app lifespan, inside the hub's: the counts go out through it."""
    it = QaLive(services)
    it.writer.start()
    services.extras[QA_LIVE] = it
    try:
        yield
    finally:
        services.extras.pop(QA_LIVE, None)
        await it.close()
