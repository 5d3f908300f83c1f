"""Trailing-slash redirects that point at this site only.

Starlette's router redirects ``/api/events/`` to ``/api/events`` itself, but builds
an absolute ``Location`` from the request's ``Host`` header: a request with a forged
``Host`` is answered with a redirect to any site (cache poisoning, phishing links
through a shared proxy). This handler replaces it (``Router.redirect_slashes`` off,
this as the router's ``default``) and answers with a path-only ``Location``, which
RFC 9110 section 10.2.2 allows and every browser resolves against the address it
asked.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import RedirectResponse
from starlette.routing import Match, Router
from starlette.types import ASGIApp, Receive, Scope, Send


class RelativeSlashRedirect:
    def __init__(self, router: Router) -> None:
        self.router = router
        self.fallback: ASGIApp = router.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        location = self._location(scope) if scope["type"] == "http" else None
        if location is None:
            await self.fallback(scope, receive, send)
            return
        await RedirectResponse(location)(scope, receive, send)

    def _location(self, scope: Scope) -> str | None:
        path: str = scope["path"]
        if path == "/":
            return None
        other = path.rstrip("/") if path.endswith("/") else path + "/"
        # "//host" or "/\host" would be read by browsers as another site.
        if not other.startswith("/") or other[1:2] in {"/", "\\"}:
            return None
        probe = {**scope, "path": other}
        if all(route.matches(probe)[0] is Match.NONE for route in self.router.routes):
            return None
        query = scope.get("query_string", b"").decode("latin-1")
        return quote(other, safe="/:@!$&'()*+,;=-._~") + (f"?{query}" if query else "")
