"""Starts and stops the real-time hub inside the app lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

from realtime.hub import Hub
from web.services import Services


@asynccontextmanager
async def start_hub(services: Services) -> AsyncIterator[None]:
    hub = Hub(services.settings, services.db)
    await hub.start()
    services.hub = hub
    services.signins.attach_hub(hub)
    from web.mail_hub import attach as attach_mail

    attach_mail(services)  # mail: "who saw the change live" from seen frames
    try:
        yield
    finally:
        services.signins.detach_hub()
        services.hub = None
        await hub.close()


def run_server(app: Any, **uvicorn_options: Any) -> None:
    """``uvicorn.run``, except that the first SIGTERM drains the hub before uvicorn stops.

    Draining closes WebSockets with 1012 in batches (so a fleet of clients does
    not reconnect in one spike) while new handshakes get 503; then uvicorn's
    own graceful shutdown runs. A second signal stops at once.
    """
    import asyncio
    import signal

    import uvicorn

    class DrainingServer(uvicorn.Server):
        drain_started = False

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            hub = getattr(app.state, "services", None) and app.state.services.hub
            if (
                sig == signal.SIGTERM
                and hub is not None
                and not self.drain_started
                and not self.should_exit
            ):
                self.drain_started = True
                loop = asyncio.get_event_loop()
                loop.call_soon_threadsafe(lambda: loop.create_task(self._drain(hub)))
                return
            super().handle_exit(sig, frame)

        async def _drain(self, hub: Hub) -> None:
            try:
                await hub.drain()
            finally:
                self.should_exit = True

    DrainingServer(uvicorn.Config(app, **uvicorn_options)).run()
