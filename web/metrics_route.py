"""``GET /metrics``: Prometheus text format (prometheus-client's default registry).

With ``METRICS_TOKEN`` set, a scrape must send ``Authorization: Bearer <token>``
(Prometheus: ``authorization: {credentials: <token>}`` in the scrape config);
without it the endpoint is open, for a machine whose port only the scraper reaches.
"""

from __future__ import annotations

import hmac

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from web.services import services_of


async def metrics(request: Request) -> Response:
    token = services_of(request).settings.metrics_token
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            return JSONResponse(
                {"error": {"code": "unauthenticated",
                           "message": "send Authorization: Bearer <METRICS_TOKEN>"}},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
