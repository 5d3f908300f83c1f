"""Serves the browser client: the HTML shell, its static files and the service worker.

The client is plain ES modules under ``web/static`` (no build step). Client-side
routes (``/events/3``, ``/admin/audit``, ``/invite/<token>``...) answer with the
same shell; the client's router reads the path. Only the known client prefixes
fall back to the shell, so unknown paths under ``/api`` stay JSON 404s.

Every HTML page and the service worker carry a Content-Security-Policy without
``'unsafe-inline'`` for scripts: the shell loads one module from ``/static`` and
the client never builds HTML from data (it sets ``textContent``).
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"

# The web client's one library (lit-html), not in git: scripts/vendor.sh fetches it with
# `npm ci` from package-lock.json and copies these modules here. The wheel carries them
# when built after that (package data ``static/**/*``).
VENDOR_DIR = STATIC_DIR / "vendor"
CLIENT_LIBRARY = (
    "lit-html/lit-html.js",
    "lit-html/directive.js",
    "lit-html/directive-helpers.js",
    "lit-html/directives/repeat.js",
)


class ClientLibraryMissing(Exception):
    """The web client's library is not where the server serves it from; ``str()`` is one line."""


def check_client_library() -> None:
    """Refuse to serve a web client that cannot load its board, saying how to fetch it."""
    for name in CLIENT_LIBRARY:
        path = VENDOR_DIR / name
        if not path.is_file():
            raise ClientLibraryMissing(
                f"the web client's library is missing ({path}): run scripts/vendor.sh "
                "(npm ci of package-lock.json) in the source checkout, then install and start again"
            )

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "connect-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

# Paths the client's router knows; each (and everything below it) gets the shell.
CLIENT_PREFIXES = (
    "signin",
    "forgot-password",
    "reset-password",
    "invite",
    "events",
    "me",
    "admin",
    "manage",
    "trainer",
    "present",
    "organiser",
    "dm",
    "offline",
    "present",
)


def _no_store(headers: dict[str, str]) -> dict[str, str]:
    # The shell and the worker must be revalidated so a deploy reaches every client.
    return {**headers, "Cache-Control": "no-cache"}


async def shell(request: Request) -> Response:
    return FileResponse(
        STATIC_DIR / "index.html", media_type="text/html", headers=_no_store(SECURITY_HEADERS)
    )


@functools.cache
def _service_worker_source(mtimes: tuple[float, ...]) -> bytes:
    files = sorted(
        p for p in STATIC_DIR.rglob("*") if p.is_file() and p.name not in {"sw.js", "index.html"}
    )
    urls = ["/static/" + p.relative_to(STATIC_DIR).as_posix() for p in files]
    digest = hashlib.sha256()
    for p in files + [STATIC_DIR / "index.html", STATIC_DIR / "sw.js"]:
        digest.update(p.read_bytes())
    source = (STATIC_DIR / "sw.js").read_text()
    source = source.replace("__VERSION__", digest.hexdigest()[:16]).replace(
        "__FILES__", json.dumps(urls)
    )
    return source.encode()


def _static_mtimes() -> tuple[float, ...]:
    return tuple(p.stat().st_mtime for p in sorted(STATIC_DIR.rglob("*")) if p.is_file())


async def service_worker(request: Request) -> Response:
    # Served from the root so its scope covers the whole site. The precache list
    # is every file under static/, so adding a module needs no second edit.
    headers = _no_store({**SECURITY_HEADERS, "Service-Worker-Allowed": "/"})
    body = _service_worker_source(_static_mtimes())
    return Response(body, media_type="text/javascript", headers=headers)


async def manifest(request: Request) -> Response:
    return FileResponse(
        STATIC_DIR / "manifest.webmanifest",
        media_type="application/manifest+json",
        headers=SECURITY_HEADERS,
    )


class SecureStaticFiles(StaticFiles):
    """StaticFiles with the security headers, and modules revalidated on every load."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        response.headers.setdefault("Cache-Control", "no-cache")
        return response


def spa_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [
        Route("/", shell, methods=["GET", "HEAD"], name="spa:root"),
        Route("/sw.js", service_worker, methods=["GET", "HEAD"], name="spa:sw"),
        Route("/manifest.webmanifest", manifest, methods=["GET", "HEAD"], name="spa:manifest"),
        Mount("/static", SecureStaticFiles(directory=STATIC_DIR), name="static"),
    ]
    for prefix in CLIENT_PREFIXES:
        routes.append(Route(f"/{prefix}", shell, methods=["GET", "HEAD"]))
        routes.append(Route(f"/{prefix}/{{rest:path}}", shell, methods=["GET", "HEAD"]))
    return routes
