"""One error shape for every HTTP answer: ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from storage.errors import DomainError

log = logging.getLogger("classhub.web")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
}


class ApiError(DomainError):
    """Raised by handlers for a client's mistake; becomes the error shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(code, message, status=status)
        self.headers = headers or {}
        self.details = details


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, details: Any = None
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


async def domain_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, DomainError):  # registered for DomainError only
        raise TypeError(f"domain_error got {type(exc).__name__}")
    headers = getattr(exc, "headers", None)
    return error_response(exc.status, exc.code, exc.message, headers, getattr(exc, "details", None))


async def http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # registered for HTTPException only
        raise TypeError(f"http_error got {type(exc).__name__}")
    code = _HTTP_CODES.get(exc.status_code, "error")
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


async def client_gone(request: Request, exc: Exception) -> Response:
    """The client went away before its request was read (a body shorter than its
    Content-Length, a cut connection): its fault, expected, and nobody to answer.
    One line without a traceback (the connection ended with it), not an error."""
    client = request.client.host if request.client else "?"
    log.info("%s %s: the client went away before sending the whole request (%s)",
             request.method, request.url.path, client)
    return Response(status_code=400)


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", "an internal error occurred; it has been logged")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ClientDisconnect: client_gone,
    DomainError: domain_error,
    HTTPException: http_error,
    Exception: server_error,
}
