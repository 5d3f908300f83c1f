"""Starts and stops the real-time hub inside the app lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from web.services import Services


@asynccontextmanager
async def start_hub(services: Services) -> AsyncIterator[None]:
    # The hub (issue 3) plugs in here: create it, set services.hub, run until exit.
    yield
