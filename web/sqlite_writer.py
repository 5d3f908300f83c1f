"""One write transaction at a time on SQLite, shared by every writer of this process.

SQLite has one writer anyway; left to its busy handler, a hundred concurrent
writes poll for the lock and some starve past the busy timeout ("database is
locked"). Queueing them here is fair and costs nothing on PostgreSQL, where
row locks order writers instead. Used by the pinboard's writes
(``web/routes/pinboard.py``) and the batch writers of releases and Q&A votes.
Its own module so that a writer outside ``web/routes`` (``web/qa_live.py``)
does not import the routes package, which imports every route module.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from web.services import Services

LOCK_KEY = "pinboard.sqlite_writer"


@asynccontextmanager
async def sqlite_writer(services: Services) -> AsyncIterator[None]:
    if not services.db.is_sqlite:
        yield
        return
    lock = services.extras.get(LOCK_KEY)
    if lock is None:
        lock = services.extras[LOCK_KEY] = asyncio.Lock()
    async with lock:
        yield
