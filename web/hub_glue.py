"""Starts and stops the real-time hub inside the app lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from web.services import Services


@asynccontextmanager
async def start_hub(services: Services) -> AsyncIterator[None]:
    from realtime.hub import Hub

    hub = Hub(services.settings, services.db)
    await hub.start()
    services.hub = hub
    from web.mail_hub import attach as attach_mail

    attach_mail(services)  # mail: "who saw the change live" from seen frames
    try:
        yield
    finally:
        services.hub = None
        await hub.close()
