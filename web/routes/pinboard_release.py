"""Releasing a draft note to its board, batched.

Releases come in bursts ("release your notes now"), so they do not each run a
transaction: the release route hands its request to a batch writer, which
stores many releases in one transaction and fans their events out once, in
commit order. The writer lives for the app's lifespan (``release_writer``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from storage.batch_writer import BatchWriter
from storage.errors import StoreUnavailable
from storage.repo.channel_log import StoredEvent
from storage.repo.pinboard_release import Released, ReleaseOutcome, ReleaseRequest, release_many
from web.api import API, Ctx
from web.routes.pinboard import TAGS, fan_out
from web.services import Services
from web.sqlite_writer import sqlite_writer

RELEASE_WRITER = "pinboard.release_writer"


@asynccontextmanager
async def release_writer(services: Services) -> AsyncIterator[None]:
    """The batch writer of note releases, for the app lifespan (inside the hub's).

    A batch's events go to the hub in a task of their own, so the next batch's
    transaction overlaps this one's fan-out; each such task waits for the one
    before it, so batches reach the hub in commit order.
    """
    last: list[asyncio.Task[None]] = []

    async def transact(requests: list[ReleaseRequest]) -> list[ReleaseOutcome]:
        async with sqlite_writer(services), services.db.session() as db:
            batch = await release_many(db, requests)
        return batch.outcomes

    async def fan_out_after(before: asyncio.Task[None] | None, events: list[StoredEvent]) -> None:
        if before is not None:
            await asyncio.wait([before])
        await fan_out(services, events)

    def committed(
        requests: list[ReleaseRequest], outcomes: Sequence[ReleaseOutcome | StoreUnavailable]
    ) -> None:
        events = [e for o in outcomes if isinstance(o, Released) for e in o.events]
        if events:
            before = last.pop() if last else None
            last.append(asyncio.get_running_loop().create_task(fan_out_after(before, events)))

    writer: BatchWriter[ReleaseRequest, ReleaseOutcome] = BatchWriter(
        transact, committed, name="pinboard-release"
    )
    writer.start()
    services.extras[RELEASE_WRITER] = writer
    try:
        yield
    finally:
        services.extras.pop(RELEASE_WRITER, None)
        await writer.close()
        if last:
            await asyncio.wait(last, timeout=5.0)  # the last batches' fan-out


@API.op("POST", "/api/pinboard/notes/{note_id:int}/release", tags=TAGS,
        errors={503: "the release could not be stored (store_unavailable); nothing changed"},
        summary="Release a draft to the board (to the queue on a pre-moderated board)")
async def release_note(ctx: Ctx) -> dict[str, Any]:
    # Batched with the other releases in flight: answered after their common commit.
    writer: BatchWriter[ReleaseRequest, ReleaseOutcome] = ctx.services.extras[RELEASE_WRITER]
    released = await writer.call(ReleaseRequest(ctx.me, ctx.path_int("note_id"), ctx.ip))
    if not isinstance(released, Released):  # a refusal (a DomainError) is raised by call()
        raise TypeError(f"release answered {type(released).__name__}")
    return released.note
