"""Security headers on every HTTP answer: JSON, downloads, photos and HTML alike.

The browser client's own pages set a fuller policy (``web/spa.py``) and keep it:
these are only defaults, added where a response set none of its own. For
anything that is not the client's HTML the policy allows nothing at all: a JSON
answer, an export or a photo opened on its own as a page can run no script,
load nothing and be framed by no one.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOTHING_ALLOWED = (
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox"
)

DEFAULTS = {
    "Content-Security-Policy": NOTHING_ALLOWED,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


# With an https PUBLIC_URL: browsers that once reached us keep to https for a year, so a
# later http:// link or a stripped redirect cannot expose the session cookie. No
# includeSubDomains: classhub is often one host under an organisation's domain, and
# that would bind sibling sites it does not own.
HSTS = "max-age=31536000"


class SecurityHeaders:
    """ASGI middleware: adds each of ``DEFAULTS`` an HTTP response does not set itself,
    and ``Strict-Transport-Security`` when the site is served over https."""

    def __init__(self, app: ASGIApp, *, https: bool = False) -> None:
        self.app = app
        self.defaults = {**DEFAULTS, "Strict-Transport-Security": HSTS} if https else DEFAULTS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.defaults.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
