"""Routes that are not JSON operations: the WebSocket endpoint, static files, metrics."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route, WebSocketRoute


def extra_routes() -> list[BaseRoute]:
    from web.metrics_route import metrics
    from web.routes.lti import lti_routes
    from web.routes.oidc import oidc_routes
    from web.spa import spa_routes
    from web.unsubscribe import unsubscribe_routes
    from web.ws_endpoint import WebSocketEndpoint

    routes: list[BaseRoute] = [
        # Normally served by WebSocketFastPath (web/app.py) before Starlette's wrappers; kept
        # as a route so url_for("ws") and an app without that middleware still work.
        WebSocketRoute("/ws", WebSocketEndpoint(), name="ws"),
        Route("/metrics", metrics, methods=["GET"], name="metrics"),
    ]
    routes += unsubscribe_routes()  # mail: one-click unsubscribe (RFC 8058)
    routes += oidc_routes() + lti_routes()  # single sign-on: pages the browser is sent to
    routes.extend(spa_routes())  # the browser client: keep last, it only claims its own paths
    return routes
