"""Liveness, readiness and the OpenAPI description."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from starlette.responses import JSONResponse

from web.api import API, Ctx
from web.openapi import build_openapi


@API.op("GET", "/healthz", summary="The process is alive", auth="public", tags=("ops",))
async def healthz(ctx: Ctx) -> dict[str, Any]:
    return {"status": "ok"}


@API.op("GET", "/readyz", summary="Database and broker are reachable", auth="public", tags=("ops",))
async def readyz(ctx: Ctx) -> JSONResponse:
    services = ctx.services
    checks: dict[str, str] = {}
    try:
        async with services.db.session() as db:
            await db.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        checks["database"] = f"error: {type(exc).__name__}"
    hub = services.hub
    if hub is not None:
        try:
            await hub.broker.ping()
            checks["broker"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["broker"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@API.op("GET", "/api/openapi.json", summary="This API's OpenAPI description", auth="public")
async def openapi(ctx: Ctx) -> dict[str, Any]:
    return build_openapi(API.operations)
