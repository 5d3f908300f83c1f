"""Routes that are not JSON operations: the WebSocket endpoint, static files, metrics."""

from __future__ import annotations

from starlette.routing import BaseRoute


def extra_routes() -> list[BaseRoute]:
    return []
