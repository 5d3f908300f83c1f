"""The mailer process's ties to the rest of classhub: live progress and built-in jobs.

Progress: the worker stores each ``mail_progress`` event in the sender's
``user:<id>`` channel log itself; a hub started in the mailer process hands the
stored events to the broker (Redis), so connected clients on every web
process get them at once. Without Redis the events are still in the log and
the web processes' periodic head check delivers them shortly after.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from realtime.mailer.jobs import JobContext, register
from realtime.mailer.worker import Publish
from storage.db import Database
from storage.settings import Settings

log = logging.getLogger("classhub.mailer")


@asynccontextmanager
async def progress_publisher(settings: Settings, db: Database) -> AsyncIterator[Publish | None]:
    from realtime.hub import Hub

    hub = Hub(settings, db)
    try:
        await hub.start()
    except Exception as exc:  # noqa: BLE001 - mail must go out even if the broker is down
        log.warning("no live progress (broker unreachable: %s); progress stays in the log", exc)
        yield None
        return
    try:
        yield hub.broadcast
    finally:
        await hub.close()


def register_builtin_jobs(settings: Settings) -> None:
    """Jobs of other parts that the mailer runs when configured to."""
    every = settings.mail.maintenance_every_secs if settings.mail else 0
    if every > 0:

        async def maintenance(ctx: JobContext) -> None:
            from storage.maintenance import run_maintenance

            summary = await run_maintenance(ctx.db, ctx.settings)
            log.info("maintenance: %s", summary)

        register("maintenance", every, maintenance)
