"""The Starlette application: lifespan, middleware, routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import BaseRoute

import web.routes  # noqa: F401 - registers every operation on API
from storage.db import Database
from storage.settings import Settings
from web.api import API
from web.errors import EXCEPTION_HANDLERS
from web.services import Services

log = logging.getLogger("classhub")


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(settings.database_url)
        services = Services(settings=settings, db=db)
        app.state.services = services
        try:
            from web.hub_glue import start_hub

            async with start_hub(services):
                yield
        finally:
            await db.close()

    routes: list[BaseRoute] = [*API.routes()]
    from web.extra_routes import extra_routes

    routes.extend(extra_routes())
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=EXCEPTION_HANDLERS)
    return app
