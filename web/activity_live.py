"""Answers to activities, batched, and their tallies, coalesced.

Answers come in bursts ("vote now!"): each goes to one batch writer
(``storage/batch_writer.py``: many answers, one transaction, answered after commit).
A committed batch does not send a frame per answer: it marks its activities dirty,
and a dirty activity's tally is read from the store and published as one
``activity.tally`` event on its channel at most every ``TALLY_INTERVAL_SECS`` per
process. The event is stored (so a late or resuming subscriber replays the newest
tally) and reaches the other processes like any event. Each tally carries the
answer ``version`` it counted: with several processes, tallies can arrive out of
order; clients keep the highest version. The last commit always marks its
activity after committing, so the last tally of a burst counts every answer
(docs/protocol.md, "Activities").
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
from storage.event_types import ACTIVITY_TALLY
from storage.models import Activity
from storage.repo.activities import channel_of
from storage.repo.activity_answers import (
    Answered,
    AnswerOutcome,
    AnswerRequest,
    answer_many,
    read_tally,
)
from storage.repo.channel_log import NewEvent
from web.routes.pinboard import sqlite_writer
from web.services import Services

log = logging.getLogger("classhub.activities")

ACTIVITY_LIVE = "activities.live"
# A few tallies a second per activity: a bar chart that moves smoothly, and a thousand
# answers in a second cost four fan-outs to every screen instead of a thousand.
TALLY_INTERVAL_SECS = 0.25
CLOSE_WAIT_SECS = 3.0


class ActivityLive:
    """This process's answer writer and tally pacer (one per app, in ``services.extras``)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.writer: BatchWriter[AnswerRequest, AnswerOutcome] = BatchWriter(
            self._transact, self._committed, name="activity-answers"
        )
        self._last_sent: dict[int, float] = {}
        self._pending: dict[int, asyncio.Task[None]] = {}
        self.tallies_sent = 0

    async def _transact(self, reqs: list[AnswerRequest]) -> list[AnswerOutcome]:
        async with sqlite_writer(self.services), self.services.db.session() as db:
            return await answer_many(db, reqs)

    def _committed(
        self, reqs: list[AnswerRequest], outcomes: Sequence[AnswerOutcome | StoreUnavailable]
    ) -> None:
        for activity_id in {o.activity_id for o in outcomes if isinstance(o, Answered)}:
            self.tally_soon(activity_id)

    async def answer(self, req: AnswerRequest) -> Answered:
        outcome = await self.writer.call(req)  # a refusal is raised
        if not isinstance(outcome, Answered):
            raise TypeError(f"an answer came back as {type(outcome).__name__}")
        return outcome

    def tally_soon(self, activity_id: int) -> None:
        """Publish the activity's tally soon: at once if none went out for a while, else
        when the interval is over. Marks while one is pending join it."""
        if activity_id in self._pending:
            return
        due = self._last_sent.get(activity_id, 0.0) + TALLY_INTERVAL_SECS
        delay = max(0.0, due - time.monotonic())
        self._pending[activity_id] = asyncio.get_running_loop().create_task(
            self._send_tally(activity_id, delay), name=f"activity-tally-{activity_id}"
        )

    async def _send_tally(self, activity_id: int, delay: float) -> None:
        await asyncio.sleep(delay)
        # Unmarked before reading: a commit from now on marks again and gets a later tally.
        del self._pending[activity_id]
        self._last_sent[activity_id] = time.monotonic()
        hub = self.services.hub
        if hub is None:
            return
        try:
            async with self.services.db.session() as db:
                activity = await db.get(Activity, activity_id)
                if activity is None:
                    return
                tally = await read_tally(db, activity)
                event = NewEvent(channel_of(activity), ACTIVITY_TALLY,
                                 tally.body(shown=activity.results_shown))
            await hub.publish(event)
            self.tallies_sent += 1
        except (PublishFailed, StoreUnavailable) as exc:
            log.warning("the tally of activity %d was not sent: %s", activity_id, exc)
        except Exception:  # a task boundary: log it, the next answer sends a tally again
            log.exception("the tally of activity %d failed", activity_id)

    async def close(self) -> None:
        await self.writer.close()
        pending = list(self._pending.values())
        if pending:  # the last batches' tallies
            await asyncio.wait(pending, timeout=CLOSE_WAIT_SECS)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def live(services: Services) -> ActivityLive:
    found: ActivityLive = services.extras[ACTIVITY_LIVE]
    return found


@asynccontextmanager
async def activity_live(services: Services) -> AsyncIterator[None]:
    """For the app lifespan, inside the hub's: the tallies go out through it."""
    it = ActivityLive(services)
    it.writer.start()
    services.extras[ACTIVITY_LIVE] = it
    try:
        yield
    finally:
        services.extras.pop(ACTIVITY_LIVE, None)
        await it.close()
