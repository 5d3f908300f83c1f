"""Routes that are not JSON operations: the WebSocket endpoint, static files, metrics."""

from __future__ import annotations

from starlette.routing import BaseRoute


def extra_routes() -> list[BaseRoute]:
    from web.spa import spa_routes

    routes: list[BaseRoute] = []
    routes.extend(spa_routes())  # the browser client: keep last, it only claims its own paths
    return routes
