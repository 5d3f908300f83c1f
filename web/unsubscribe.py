"""One-click unsubscribe from information mail (RFC 8058), outside the JSON API.

``POST /unsubscribe/<token>`` unsubscribes at once. It needs no cookie and no
CSRF header: mail providers post ``List-Unsubscribe=One-Click`` on the user's
behalf, and the signed token is the only authority (it names one account and
cannot be forged without SECRET_KEY). ``GET`` only shows a page with a button
that posts; link scanners that fetch every URL in a mail unsubscribe nobody.
"""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from realtime.mailer.message import user_for_unsubscribe_token
from storage.models import User
from storage.repo.logs import log_activity
from web.services import services_of

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="referrer" content="no-referrer"><title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto">
<h1>{title}</h1>{content}</body></html>"""


# No script at all; the inline style attribute is the page's only styling. Not framable,
# so no other site can lay its own page over the button (web/security_headers.py adds
# nosniff and the rest).
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def _page(title: str, content: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        PAGE.format(title=html.escape(title), content=content),
        status_code=status,
        headers={
            "Cache-Control": "no-store",
            "X-Robots-Tag": "noindex",
            "Content-Security-Policy": PAGE_CSP,
        },
    )


async def unsubscribe(request: Request) -> Response:
    services = services_of(request)
    token = request.path_params["token"]
    user_id = user_for_unsubscribe_token(services.settings.secret_key, token)
    if user_id is None:
        return _page("Link not valid", "<p>This unsubscribe link is not valid.</p>", 404)
    if request.method != "POST":  # GET, and the HEAD Starlette derives from it
        action = html.escape(str(request.url.path))
        return _page(
            "Unsubscribe from information mail?",
            "<p>You will no longer receive information mail from classhub. "
            "Service mail about events you take part in (changes, cancellations) still arrives.</p>"
            f'<form method="post" action="{action}">'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            '<button type="submit">Unsubscribe</button></form>',
        )
    async with services.db.session() as db:
        user = await db.get(User, user_id)
        if user is not None and user.wants_information_mail:
            user.wants_information_mail = False
            await log_activity(
                db,
                user_id=user_id,
                action="mail_unsubscribe",
                ip=request.client.host if request.client else "",
            )
    return _page(
        "Unsubscribed",
        "<p>You will no longer receive information mail. "
        "You can subscribe again in your settings.</p>",
    )


def unsubscribe_routes() -> list[BaseRoute]:
    return [Route("/unsubscribe/{token}", unsubscribe, methods=["GET", "POST"])]
