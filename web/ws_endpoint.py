"""The ``/ws`` handshake: Origin, authentication, subprotocol; then the hub runs the connection.

Everything here happens before ``websocket.accept``: a refused handshake gets
an HTTP answer (403, or 503 while draining) and creates nothing in the hub.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import parse_qs

from starlette.requests import HTTPConnection
from starlette.types import Receive, Scope, Send

from realtime.protocol.codec import choose_subprotocol
from realtime.tokens import read_token
from storage.models import User
from storage.repo.accounts import token_hash
from web.auth import session_token
from web.services import Services, services_of


async def _refuse(scope: Scope, send: Send, status: int, text: str) -> None:
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({
            "type": "websocket.http.response.start", "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        })
        await send({"type": "websocket.http.response.body", "body": text.encode()})
    else:
        await send({"type": "websocket.close", "code": 1008})


async def _user_for_hash(services: Services, session_hash: str) -> User | None:
    """The rules of ``storage.repo.accounts.user_for_session``, by the session's hash
    (cached briefly per process, dropped at once on revocation: web/signins.py)."""
    user: User | None = await services.signins.user_for_hash(session_hash)
    return user


class WebSocketEndpoint:
    """A plain ASGI app, so the hub reads and writes the raw ASGI messages (no wrapper per
    frame)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        conn = HTTPConnection(scope)
        services = services_of(conn)
        hub = services.hub
        settings = services.settings
        if hub is None or hub.draining:
            await _refuse(scope, send, 503, "the server is restarting; retry shortly")
            return
        origin = conn.headers.get("origin")
        token = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [None])[0]
        if origin is not None and origin.rstrip("/") not in settings.allowed_origins:
            await _refuse(scope, send, 403, "this Origin may not open a WebSocket here")
            return
        user: User | None = None
        session_hash = ""
        account_epoch = hub.account_epoch
        if token is not None:
            claim = read_token(settings.secret_key, token)
            if claim is not None and await hub.claim_token(claim):
                user = await _user_for_hash(services, claim.session_hash)
                if user is not None and user.id != claim.user_id:
                    user = None
                session_hash = claim.session_hash
        else:
            if origin is None:
                # Browsers always send Origin; cookie authority without one is refused.
                await _refuse(scope, send, 403, "an Origin header is required with cookie sign-in")
                return
            raw = session_token(conn)
            if raw is not None:
                session_hash = token_hash(raw)
                user = await _user_for_hash(services, session_hash)
        if user is None:
            await _refuse(
                scope,
                send,
                403,
                "sign in first (session cookie or a token from POST /api/ws-token)",
            )
            return
        codec = choose_subprotocol(list(scope.get("subprotocols") or []))
        if codec is None:
            await _refuse(
                scope, send, 403, "offer the classhub.json.v1 or classhub.msgpack.v1 subprotocol"
            )
            return
        # This frame lives as long as the connection: keep only what serve needs.
        del conn, services, settings, message, token, origin
        # ASGI servers pass plain dicts; Hub.serve is typed for them (starlette's types
        # say MutableMapping).
        await hub.serve(
            cast(dict[str, Any], scope), cast(Callable[[], Awaitable[dict[str, Any]]], receive),
            send, user=user, session_hash=session_hash, codec=codec, account_epoch=account_epoch,
        )
