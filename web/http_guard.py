"""Time-outs and caps for HTTP connections that have not yet said what they want.

uvicorn times out only an idle keep-alive connection (``timeout_keep_alive``);
a connection that sends half a request line, or headers one byte a minute, or a
body that stops half-way, is kept for ever, and none of that needs a sign-in:
1,100 half-sent requests opened in 0.1 s took every file descriptor of a server
and shut every other client out. ``GuardedHttpTools`` is uvicorn's httptools
protocol with what nginx does by default added (``client_header_timeout``,
``client_body_timeout``, ``large_client_header_buffers``):

* the request line and headers must be complete within ``HTTP_HEADER_TIMEOUT_SECS``
  of the connection opening (or of the first byte of a later request on it),
  else 408 and close; over ``HTTP_MAX_HEADER_BYTES`` of them, 431 and close;
* a request body must make progress every ``HTTP_BODY_TIMEOUT_SECS`` (the
  clock stops while the application, not the client, is behind: reading paused
  for back-pressure, or a ``100-continue`` not yet sent), else the connection
  closes and the application sees the client gone;
* a connection still waiting for its headers is *pending*. At most
  ``HTTP_MAX_PENDING_PER_IP`` may be pending from one address and
  ``HTTP_MAX_PENDING_CONNECTIONS`` in all; one more evicts the oldest (503 and
  close; see ``PendingConnections``). A real client sends its headers within a
  round trip, so it is never the oldest for long; what sits pending is what
  sends slowly on purpose.

After its headers a request is answered (401 without a session; the WebSocket
endpoint closes a handshake without one), and an idle keep-alive connection
closes after uvicorn's ``timeout_keep_alive``: no connection is held without a
sign-in for longer than these time-outs. ``raise_open_file_limit`` lifts the
process's soft ``RLIMIT_NOFILE`` to its hard limit at start-up, and the pending
cap is kept to a quarter of whatever limit that gives.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("classhub.http")


@dataclass(frozen=True)
class HttpLimits:
    header_timeout_secs: float = 10.0
    body_timeout_secs: float = 20.0
    max_header_bytes: int = 64 * 1024
    max_pending: int = 1024
    max_pending_per_ip: int = 128


def raise_open_file_limit() -> int:
    """Lift the soft limit on open files to the hard one; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %s to %s: %s", soft, target, exc)
    return int(soft)


def fit_to_file_limit(limits: HttpLimits, open_files: int) -> HttpLimits:
    """Pending connections may take at most a quarter of the file descriptors."""
    cap = max(1, open_files // 4)
    if limits.max_pending <= cap:
        return limits
    log.warning(
        "HTTP_MAX_PENDING_CONNECTIONS lowered from %d to %d: the process may open only %d files",
        limits.max_pending, cap, open_files,
    )
    return HttpLimits(
        header_timeout_secs=limits.header_timeout_secs,
        body_timeout_secs=limits.body_timeout_secs,
        max_header_bytes=limits.max_header_bytes,
        max_pending=cap,
        max_pending_per_ip=min(limits.max_pending_per_ip, cap),
    )


# After refusing a connection, how long what the client still sends is read and dropped
# before the socket is closed (so the close sends no reset that could eat the answer).
LINGER_SECS = 2.0


def _response(status: bytes, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\nconnection: close\r\n" + extra + b"\r\n"
    )


TIMED_OUT = _response(b"408 Request Timeout")
HEADERS_TOO_LARGE = _response(b"431 Request Header Fields Too Large")
EVICTED = _response(b"503 Service Unavailable", b"retry-after: 1\r\n")


class PendingConnections:
    """Connections waiting for their headers, oldest first, in all and per client address.

    Over the per-address cap, that address's oldest goes, once it has waited
    ``GRACE_SECS`` (a burst of connections accepted in one loop turn has its
    headers read in the next). Over the total cap, the oldest of the address
    with the most waiting goes at once: a flood from one address evicts only
    its own, never a slow but honest client elsewhere.
    """

    GRACE_SECS = 0.25

    def __init__(self, limits: HttpLimits) -> None:
        self.limits = limits
        self._all: dict[GuardedHttpTools, None] = {}
        self._by_ip: dict[str, dict[GuardedHttpTools, None]] = {}
        self._recheck: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._all)

    def add(self, conn: GuardedHttpTools) -> None:
        self._all[conn] = None
        self._by_ip.setdefault(conn.peer_ip, {})[conn] = None
        while len(self._all) > self.limits.max_pending:
            crowded = max(self._by_ip.values(), key=len)
            next(iter(crowded)).evict()
        self._shed(conn.peer_ip, conn.loop)

    def _shed(self, ip: str, loop: asyncio.AbstractEventLoop) -> None:
        mine = self._by_ip.get(ip, {})
        while len(mine) > self.limits.max_pending_per_ip:
            oldest = next(iter(mine))
            waited = loop.time() - oldest.pending_since
            if waited < self.GRACE_SECS:
                if self._recheck is None:
                    self._recheck = loop.call_later(
                        self.GRACE_SECS - waited, self._shed_later, ip, loop
                    )
                return
            oldest.evict()

    def _shed_later(self, ip: str, loop: asyncio.AbstractEventLoop) -> None:
        self._recheck = None
        self._shed(ip, loop)

    def discard(self, conn: GuardedHttpTools) -> None:
        if conn not in self._all:
            return
        del self._all[conn]
        mine = self._by_ip[conn.peer_ip]
        del mine[conn]
        if not mine:
            del self._by_ip[conn.peer_ip]


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body time-outs and the pending cap."""

    limits: HttpLimits = HttpLimits()
    pending: PendingConnections = PendingConnections(limits)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.peer_ip = ""
        self._waiting_headers = False
        self._header_bytes = 0
        self._in_body = False
        self._body_progress = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.pending_since = 0.0
        self._refused = False

    # -- connection ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.peer_ip = self.client[0] if self.client else ""
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering after a refusal: read and dropped
        if self._in_body:
            self._body_progress = self.loop.time()
        super().data_received(data)
        if self._waiting_headers and not self.transport.is_closing():
            # Everything fed while the headers are still incomplete was header bytes.
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes:
                self._refuse(HEADERS_TOO_LARGE, linger=True)

    def handle_websocket_upgrade(self) -> None:
        self._stop_waiting()  # the WebSocket protocol takes the connection from here
        super().handle_websocket_upgrade()

    # -- parser callbacks ---------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._waiting_headers:
            self._await_headers()

    def on_headers_complete(self) -> None:
        self._stop_waiting()
        super().on_headers_complete()
        if self.parser.should_upgrade() and self._should_upgrade():
            return
        self._in_body = True
        self._body_progress = self.loop.time()
        self._timer = self.loop.call_later(self.limits.body_timeout_secs, self._body_check)

    def on_message_complete(self) -> None:
        self._stop_waiting()
        super().on_message_complete()

    # -- the guard ----------------------------------------------------------------

    def _await_headers(self) -> None:
        self._cancel_timer()
        self._waiting_headers = True
        self._header_bytes = 0
        self.pending_since = self.loop.time()
        self.pending.add(self)
        if self._waiting_headers:  # not evicted at once
            self._timer = self.loop.call_later(
                self.limits.header_timeout_secs, self._refuse, TIMED_OUT
            )

    def _stop_waiting(self) -> None:
        self._cancel_timer()
        self._in_body = False
        if self._waiting_headers:
            self._waiting_headers = False
            self.pending.discard(self)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _refuse(self, answer: bytes, *, linger: bool = False) -> None:
        """Answer a request that never got to the application, and close.

        ``linger`` (oversized headers: the client is still sending): a lingering close,
        as nginx does. Closing a socket while the peer's bytes keep arriving sends a
        reset, which can destroy our answer in the client's buffers before it reads it;
        so the write side is shut first (the answer, then a FIN) and what still arrives
        is read and dropped for a moment. Time-outs and evictions close at once: their
        clients are silent, and their descriptors are what the pending cap frees."""
        self._stop_waiting()
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        self.transport.write(answer)
        if linger and self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECS, self.transport.close)
        else:
            self.transport.close()

    def evict(self) -> None:
        self._refuse(EVICTED)

    def _body_check(self) -> None:
        self._timer = None
        if not self._in_body or self.transport.is_closing():
            return
        cycle = self.cycle
        behind_us = self.flow.read_paused or (cycle is not None and cycle.waiting_for_100_continue)
        now = self.loop.time()
        if behind_us:
            self._body_progress = now
        idle = now - self._body_progress
        if idle < self.limits.body_timeout_secs:
            self._timer = self.loop.call_later(
                self.limits.body_timeout_secs - idle, self._body_check
            )
            return
        self._stop_waiting()
        # The application may be reading this body: it sees the client gone. No answer is
        # written, since the application may already have started one.
        self.transport.close()


def guarded_protocol(limits: HttpLimits) -> type[GuardedHttpTools]:
    """A protocol class for ``uvicorn.Config(http=...)`` with its own limits and pending set."""
    return type(
        "GuardedHttpTools",
        (GuardedHttpTools,),
        {"limits": limits, "pending": PendingConnections(limits)},
    )
