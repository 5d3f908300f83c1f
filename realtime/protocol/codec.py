"""The two encodings of the wire protocol, and encode-once framing of events.

An event is encoded once per subprotocol (``WireEvent``); ``event`` and
``batch`` frames are spliced around those bytes, so fan-out to a thousand
subscribers costs one encoding, not a thousand. JSON frames are ``str`` (text
frames), msgpack frames ``bytes`` (binary frames).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import struct
from typing import Any, Protocol

import msgpack

from realtime.protocol.errors import ProtocolError
from realtime.protocol.wsframe import ws_frame

JSON_SUBPROTOCOL = "classhub.json.v1"
MSGPACK_SUBPROTOCOL = "classhub.msgpack.v1"
SUBPROTOCOLS = (JSON_SUBPROTOCOL, MSGPACK_SUBPROTOCOL)

Frame = dict[str, Any]
Wire = str | bytes

log = logging.getLogger("classhub.hub")

# What a body may hold: exactly what both subprotocols carry as the same value (a JSON
# reader and a default msgpack reader see one and the same map). Integers are those of
# a signed 64-bit reader (msgpack cannot carry more; JSON readers disagree beyond it),
# floats are finite (NaN and Infinity are no JSON), map keys are strings (msgpack
# carries others, JSON turns them into strings), strings are UTF-8 (no lone
# surrogates), and nothing else: no binary, no extension types, no timestamps. Bodies
# nest at most this deep (a chat message or a note needs three or four levels; the
# bound keeps every check and encoder far from its recursion limit).
MAX_BODY_DEPTH = 32
MIN_INT = -(2**63)
MAX_INT = 2**63 - 1


def body_problem(value: Any, depth: int = 0) -> str | None:
    """Why ``value`` is not carried identically by JSON and msgpack; None when it is."""
    # The exact JSON types first, each in one test: bodies are made of these.
    kind = type(value)
    if kind is str:
        return None if value.isascii() else _text_problem(value)
    if kind is int:
        return None if MIN_INT <= value <= MAX_INT else "integers must fit in 64 bits (signed)"
    if value is None or kind is bool:
        return None
    if kind is float:
        return None if value - value == 0.0 else "numbers must be finite (no NaN or Infinity)"
    if kind is dict or kind is list or kind is tuple:
        return _container_problem(value, depth)
    return _other_problem(value, depth)


def _text_problem(value: str) -> str | None:
    try:
        value.encode()
    except UnicodeEncodeError:
        return "strings must be valid Unicode text (no lone surrogates)"
    return None


def _other_problem(value: Any, depth: int) -> str | None:
    """Subclasses of the JSON types, and everything that is no JSON type."""
    if isinstance(value, dict | list):  # subclasses: both encoders write them as maps, lists
        return _container_problem(value, depth)
    if isinstance(value, bool | int | float | str):
        # A subclass (an IntEnum or StrEnum of a feature): both encoders write its base value.
        for base in (bool, int, float, str):
            if isinstance(value, base):
                return body_problem(base(value), depth)
    if isinstance(value, bytes | bytearray | memoryview):
        return "binary values are not carried alike by JSON and msgpack"
    if isinstance(value, msgpack.ExtType | msgpack.Timestamp):
        return "msgpack extension types (timestamps included) are not carried by JSON"
    return f"{type(value).__name__} values are not carried alike by JSON and msgpack"


def _container_problem(
    value: dict[Any, Any] | list[Any] | tuple[Any, ...], depth: int
) -> str | None:
    if depth >= MAX_BODY_DEPTH:
        return f"maps and lists nest at most {MAX_BODY_DEPTH} deep"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return "map keys must be strings (JSON has no other keys)"
            problem = body_problem(key, depth) or body_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    for item in value:
        problem = body_problem(item, depth + 1)
        if problem is not None:
            return problem
    return None


# A batch frame is closed once its events reach this size (docs/protocol.md: frames
# from the server stay under 512 KiB; one event is at most about 10 KiB).
MAX_BATCH_BYTES = 256 * 1024


class EventRecord(Protocol):
    """A committed event as the protocol carries it: what an ``event`` frame shows, plus the
    publisher's ``client_id`` (answers a retried publish). The store's ``StoredEvent`` is one."""

    @property
    def id(self) -> int: ...
    @property
    def channel(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def author_id(self) -> int | None: ...
    @property
    def client_id(self) -> str | None: ...
    @property
    def ref_id(self) -> int | None: ...
    @property
    def body(self) -> dict[str, Any]: ...
    @property
    def created_at(self) -> dt.datetime: ...


def format_time(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def event_payload(ev: EventRecord, author_name: str | None) -> Frame:
    author = None
    if ev.author_id is not None:
        author = {"id": ev.author_id, "name": author_name or ""}
    kind, body = ev.type, ev.body
    problem = body_problem(body)
    if problem is not None or not isinstance(body, dict):
        kind, body = UNREADABLE, dict(UNREADABLE_BODY)
        _unreadable(ev, problem or "the body is not a map")
    return {
        "channel": ev.channel,
        "seq": ev.seq,
        "id": ev.id,
        "type": kind,
        "author": author,
        "time": format_time(ev.created_at),
        "body": body,
        "ref": ev.ref_id,
    }


# The event type that stands in for an event whose stored body no longer passes the
# rule above (stored before it existed, or written by a feature that broke it): it
# keeps the event's place in the sequence (no gap, no replay that fails for ever) and
# withholds only its content, the same on both subprotocols.
UNREADABLE = "unreadable"
UNREADABLE_BODY: Frame = {
    "reason": "the stored body cannot be sent identically as JSON and msgpack"
}
_LOGGED_UNREADABLE: set[int] = set()


def _unreadable(ev: EventRecord, problem: str) -> None:
    """Log an unreadable event once per process (it is replayed to every reader)."""
    if ev.id in _LOGGED_UNREADABLE:
        return
    if len(_LOGGED_UNREADABLE) >= 10_000:
        _LOGGED_UNREADABLE.clear()
    _LOGGED_UNREADABLE.add(ev.id)
    log.warning(
        "event %s (%s #%s, %s) is sent as %r: %s",
        ev.id,
        ev.channel,
        ev.seq,
        ev.type,
        UNREADABLE,
        problem,
    )


# allow_nan=False: a NaN would reach browsers as a frame their JSON.parse throws away.
_dumps = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), check_circular=False, allow_nan=False
).encode
_packb = msgpack.Packer(autoreset=True).pack


class JsonCodec:
    name = JSON_SUBPROTOCOL
    binary = False

    def decode(self, data: str | bytes | None) -> Frame:
        if not isinstance(data, str):
            raise ProtocolError("bad_frame", "send JSON in text frames on classhub.json.v1")
        try:
            frame = json.loads(data)
        except (ValueError, RecursionError):
            raise ProtocolError("bad_frame", "the frame is not valid JSON") from None
        if not isinstance(frame, dict):
            raise ProtocolError("bad_frame", "a frame must be a JSON object")
        return frame

    def encode(self, frame: Frame) -> str:
        return _dumps(frame)

    def encode_event(self, payload: Frame) -> str:
        return _dumps(payload)

    def event_frame(self, encoded: Wire) -> str:
        # ``encoded`` is this codec's own encoding (a str); no check per event.
        return '{"type":"event","event":' + encoded + "}"  # type: ignore[operator]

    def batch_frame(self, encoded: list[Wire]) -> str:
        return '{"type":"batch","events":[' + ",".join(encoded) + "]}"  # type: ignore[arg-type]


_MP_EVENT_PREFIX = b"\x82" + _packb("type") + _packb("event") + _packb("event")
_MP_BATCH_PREFIX = b"\x82" + _packb("type") + _packb("batch") + _packb("events")


def _mp_array_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x90 | n,))
    if n < 0x10000:
        return b"\xdc" + struct.pack(">H", n)
    return b"\xdd" + struct.pack(">I", n)


class MsgpackCodec:
    name = MSGPACK_SUBPROTOCOL
    binary = True

    def decode(self, data: str | bytes | None) -> Frame:
        if not isinstance(data, bytes):
            raise ProtocolError("bad_frame", "send msgpack in binary frames on classhub.msgpack.v1")
        try:
            frame = msgpack.unpackb(data, raw=False, strict_map_key=False)
        except Exception:  # noqa: BLE001 - msgpack raises several unrelated types
            raise ProtocolError("bad_frame", "the frame is not valid msgpack") from None
        if not isinstance(frame, dict):
            raise ProtocolError("bad_frame", "a frame must be a msgpack map")
        return frame

    def encode(self, frame: Frame) -> bytes:
        return _packb(frame)  # type: ignore[no-any-return]

    def encode_event(self, payload: Frame) -> bytes:
        return _packb(payload)  # type: ignore[no-any-return]

    def event_frame(self, encoded: Wire) -> bytes:
        return bytes(_MP_EVENT_PREFIX + encoded)  # this codec's own encoding: bytes

    def batch_frame(self, encoded: list[Wire]) -> bytes:
        return _MP_BATCH_PREFIX + _mp_array_header(len(encoded)) + b"".join(encoded)  # type: ignore[arg-type,no-any-return]


Codec = JsonCodec | MsgpackCodec
JSON = JsonCodec()
MSGPACK = MsgpackCodec()
CODECS: dict[str, Codec] = {JSON.name: JSON, MSGPACK.name: MSGPACK}


def choose_subprotocol(offered: list[str]) -> Codec | None:
    """The first subprotocol in the client's order that we speak."""
    for name in offered:
        codec = CODECS.get(name)
        if codec is not None:
            return codec
    return None


class WireEvent:
    """A committed event plus its encodings, made at most once per subprotocol."""

    __slots__ = ("_frames", "_json", "_msgpack", "_payload", "author_name", "event", "seq")

    def __init__(self, event: EventRecord, author_name: str | None) -> None:
        self.event = event
        self.author_name = author_name
        self.seq = event.seq
        self._json: str | None = None
        self._msgpack: bytes | None = None
        self._payload: Frame | None = None
        self._frames: list[bytes | None] = [None, None]

    def ws_frame(self, codec: Codec) -> bytes:
        """The complete WebSocket frame of this event alone: the same bytes for every socket."""
        slot = 1 if codec.binary else 0
        frame = self._frames[slot]
        if frame is None:
            body = codec.event_frame(self.encoded(codec))
            frame = ws_frame(body, codec.binary)
            self._frames[slot] = frame
        return frame

    @property
    def payload(self) -> Frame:
        if self._payload is None:
            self._payload = event_payload(self.event, self.author_name)
        return self._payload

    def encoded(self, codec: Codec) -> Wire:
        """This event in ``codec``'s encoding. Never raises: fan-out, replays and every
        other subscriber's events depend on it (``event_payload`` makes the body
        encodable; should anything else fail, the event goes out as ``unreadable``)."""
        if codec.binary:
            if self._msgpack is None:
                try:
                    self._msgpack = MSGPACK.encode_event(self.payload)
                except Exception as exc:  # noqa: BLE001 - see the docstring
                    self._msgpack = MSGPACK.encode_event(self._placeholder(exc))
            return self._msgpack
        if self._json is None:
            try:
                self._json = JSON.encode_event(self.payload)
            except Exception as exc:  # noqa: BLE001 - see the docstring
                self._json = JSON.encode_event(self._placeholder(exc))
        return self._json

    def _placeholder(self, exc: Exception) -> Frame:
        _unreadable(self.event, f"encoding failed: {type(exc).__name__}")
        ev = self.event
        self._payload = {
            "channel": ev.channel, "seq": ev.seq, "id": ev.id, "type": UNREADABLE,
            "author": None if ev.author_id is None else {"id": ev.author_id, "name": ""},
            "time": format_time(ev.created_at), "body": dict(UNREADABLE_BODY), "ref": ev.ref_id,
        }
        return self._payload

    def __repr__(self) -> str:
        return f"WireEvent({self.event.channel}#{self.seq})"


def shared_frame(events: list[WireEvent], codec: Codec) -> tuple[bytes, int]:
    """The WebSocket frame(s) carrying ``events``: an event frame for one, else batch frames
    of at most ``MAX_BATCH_BYTES`` of events each (the same rule as a connection's outbox)."""
    if len(events) == 1:
        return events[0].ws_frame(codec), 1
    out: list[bytes] = []
    run: list[Wire] = []
    size = 0

    def close_run() -> None:
        body = codec.event_frame(run[0]) if len(run) == 1 else codec.batch_frame(run)
        out.append(ws_frame(body, codec.binary))
        run.clear()

    for ev in events:
        data = ev.encoded(codec)
        run.append(data)
        size += len(data)
        if size >= MAX_BATCH_BYTES:
            close_run()
            size = 0
    if run:
        close_run()
    return (out[0] if len(out) == 1 else b"".join(out)), len(out)
