"""Whole WebSocket frames written straight to the socket, skipping the per-frame ASGI path.

The frames' bytes come from realtime/protocol/wsframe.py (the same bytes for
every connection); this module finds where to write them. Under uvicorn's
``websockets-sansio`` implementation the ASGI ``send`` is a bound method of the
connection's protocol object; through it we reach the transport. We write only
while the connection is open, its closing handshake has not started and the
transport is not paused; otherwise the connection's writer takes the ordinary
ASGI path (which waits for the socket).
With any other server (or version) ``raw_socket`` returns None and the hub
uses ASGI ``send`` for everything.
"""

from __future__ import annotations

from typing import Any

try:  # uvicorn's implementation and the websockets state enum it uses
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    from websockets.protocol import Protocol as WsProtocol
    from websockets.protocol import State
except ImportError:  # pragma: no cover - another server
    WebSocketsSansIOProtocol = None  # type: ignore[assignment,misc]
    WsProtocol = None  # type: ignore[assignment,misc]
    State = None  # type: ignore[assignment,misc]

# The websockets state of a connection that may still carry data frames.
OPEN = State.OPEN if State is not None else object()


class RawSocket:
    __slots__ = ("proto", "write")

    def drop_handshake(self) -> None:
        """Forget the opening handshake once accepted: uvicorn keeps its request and
        response (all headers, ~3 KB) for the connection's life but never reads them
        again; with 10,000 connections that is 30 MB of nothing."""
        p = self.proto
        if getattr(p, "handshake_complete", False):
            p.request = None
            p.response = None
        # websockets' server parser is a generator whose frame still holds the parsed
        # request (headers and all) in a local for the connection's life. Right after
        # the handshake, with nothing buffered, it is waiting at a frame boundary: a
        # fresh frame parser (the base class's, which it would delegate to anyway)
        # takes its place and the request is freed.
        conn = getattr(p, "conn", None)
        reader = getattr(conn, "reader", None)
        unread = getattr(reader, "buffer", None)
        if (
            WsProtocol is not None and conn is not None and conn.state is State.OPEN
            and isinstance(unread, bytearray) and not unread
            and not getattr(reader, "eof", True) and hasattr(conn, "parser")
        ):
            parser = WsProtocol.parse(conn)
            next(parser)
            conn.parser = parser

    def __init__(self, proto: Any) -> None:
        self.proto = proto
        self.write = proto.transport.write

    def ready(self) -> bool:
        p = self.proto
        return (
            not p.close_sent
            and not p.disconnected
            and p.writable.is_set()
            and p.conn.state is State.OPEN
            and not p.transport.is_closing()
        )


def raw_socket(send: Any) -> RawSocket | None:
    if WebSocketsSansIOProtocol is None:  # pragma: no cover
        return None
    proto = getattr(send, "__self__", None)
    if not isinstance(proto, WebSocketsSansIOProtocol):
        return None
    for name in ("transport", "conn", "writable", "close_sent", "disconnected"):
        if not hasattr(proto, name):  # pragma: no cover - a changed uvicorn: stay on ASGI
            return None
    return RawSocket(proto)
