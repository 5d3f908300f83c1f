"""Errors of the wire protocol: a peer's fault carries a documented code; our misuse raises
RuntimeError. Close codes are the numbers of docs/protocol.md section 3."""

from __future__ import annotations


class ProtocolError(Exception):
    """A client frame the server refuses; answered with an ``error`` frame (docs/protocol.md)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        request_id: str | None = None,
        channel: str | None = None,
        retry_after: float | None = None,
        extra: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.channel = channel
        self.retry_after = retry_after
        self.extra = extra  # further documented fields of the error (``until`` of ``muted``)

    def frame(self) -> dict[str, object]:
        out: dict[str, object] = {"type": "error", "code": self.code, "message": self.message}
        if self.request_id is not None:
            out["id"] = self.request_id
        if self.channel is not None:
            out["channel"] = self.channel
        if self.retry_after is not None:
            out["retry_after"] = round(self.retry_after, 3)
        if self.extra:
            out.update({k: v for k, v in self.extra.items() if k not in out})
        return out


class CloseCode:
    """WebSocket close codes of docs/protocol.md section 3."""

    NORMAL = 1000
    INVALID_UTF8 = 1007
    POLICY = 1008
    TOO_BIG = 1009
    INTERNAL = 1011
    RESTART = 1012
    SLOW_CONSUMER = 4008
    TOO_MANY_CONNECTIONS = 4029
    SESSION_ENDED = 4401
    HEARTBEAT_TIMEOUT = 4408
