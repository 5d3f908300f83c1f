"""The WebSocket protocol ``classhub serve`` runs: uvicorn's ``websockets-sansio``, two
faults fixed.

uvicorn's ``websockets-sansio`` implementation is the one the hub writes
frames through directly (realtime/rawsend.py), so we keep it and correct, in
this subclass, what it and the ``websockets`` library it drives get wrong:

* **A close frame between the fragments of a message** (RFC 6455 section 5.4:
  control frames may be injected in the middle of a fragmented message) is
  failed by ``websockets`` with 1002 "incomplete fragmented message". It is a
  normal close: the unfinished message is dropped and the close is echoed
  (Autobahn cases 5.x/7.1.5 expect that).
* **A text message that is not UTF-8** is a client's fault, answered 1007 as
  docs/protocol.md says, but uvicorn logs it as an ERROR with a traceback: a
  flood of them fills the log. It is logged once (the connection ends with it),
  at INFO, without a traceback.

Everything else is uvicorn's. Both overrides mirror uvicorn 0.55 and websockets 17;
``tests/test_ws_protocol.py`` pins their behaviour on the wire.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.frames import CloseCode, Frame, Opcode
from websockets.server import ServerProtocol

log = logging.getLogger("classhub.ws")


class _ServerProtocol(ServerProtocol):
    def recv_frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.CLOSE and self.current_size is not None:
            # A close in the middle of a fragmented message: the message will never be
            # finished; drop it and let the close take its normal course.
            self.current_size = None
        super().recv_frame(frame)


class ClasshubWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets-sansio`` protocol with the two corrections above."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        made = self.conn
        self.conn = _ServerProtocol(
            extensions=made.available_extensions,
            max_size=(made.max_message_size, made.max_fragment_size),
            logger=made.logger,
        )

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type != "text":
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            return  # as uvicorn: past our close, messages are discarded
        try:
            text = bytes(data).decode()
        except UnicodeDecodeError as exc:
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
            log.info(
                "WebSocket from %s closed with 1007: a text message that is not UTF-8 (%s)",
                client,
                exc.reason,
            )
            self.conn.send_close(CloseCode.INVALID_DATA, "invalid UTF-8")
            self.handle_parser_exception()
            return
        self.queue.put_nowait({"type": "websocket.receive", "text": text})
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()
