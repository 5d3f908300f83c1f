"""Client frames, validated into typed requests (docs/protocol.md section 2).

``parse`` never raises anything but :class:`ProtocolError`: whatever a client
sends, the answer is an error frame, not a crash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, overload

from realtime.protocol.codec import body_problem
from realtime.protocol.errors import ProtocolError

MAX_ID_CHARS = 64
MAX_CHANNEL_CHARS = 120
MAX_CHANNELS_PER_FRAME = 100
MAX_BODY_BYTES = 8 * 1024


@dataclass(frozen=True, slots=True)
class SubscribeEntry:
    channel: str
    since: int | None
    presence: bool


@dataclass(frozen=True, slots=True)
class Subscribe:
    id: str | None
    entries: tuple[SubscribeEntry, ...]


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    id: str | None
    channels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Publish:
    id: str
    channel: str
    body: dict[str, Any]
    ref: int | None


@dataclass(frozen=True, slots=True)
class Seen:
    channel: str
    event_id: int


@dataclass(frozen=True, slots=True)
class Ping:
    id: str | None


@dataclass(frozen=True, slots=True)
class Pong:
    pass


Request = Subscribe | Unsubscribe | Publish | Seen | Ping | Pong


@overload
def _request_id(frame: dict[str, Any], *, required: Literal[True]) -> str: ...
@overload
def _request_id(frame: dict[str, Any], *, required: bool) -> str | None: ...
def _request_id(frame: dict[str, Any], *, required: bool) -> str | None:
    value = frame.get("id")
    if value is None and not required:
        return None
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= MAX_ID_CHARS
        or not all(" " <= ch <= "~" for ch in value)
    ):
        raise ProtocolError(
            "invalid", f"id must be a string of 1-{MAX_ID_CHARS} printable ASCII characters"
        )
    return value


def _channel(value: Any, rid: str | None) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_CHANNEL_CHARS:
        raise ProtocolError("invalid", "channel must be a channel name", request_id=rid)
    return value


def _int(value: Any, name: str, rid: str | None, *, minimum: int) -> int:
    # bool is an int in Python; a client sending true means something else.
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value < 2**63:
        raise ProtocolError("invalid", f"{name} must be an integer >= {minimum}", request_id=rid)
    return value


def _subscribe(frame: dict[str, Any]) -> Subscribe:
    rid = _request_id(frame, required=False)
    raw = frame.get("channels")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_CHANNELS_PER_FRAME:
        raise ProtocolError(
            "invalid",
            f"channels must be a list of 1-{MAX_CHANNELS_PER_FRAME} entries",
            request_id=rid,
        )
    entries = []
    for item in raw:
        if not isinstance(item, dict):
            raise ProtocolError(
                "invalid",
                "each channels entry must be a map {channel, since?, presence?}",
                request_id=rid,
            )
        since = item.get("since")
        presence = item.get("presence", False)
        if not isinstance(presence, bool):
            raise ProtocolError("invalid", "presence must be true or false", request_id=rid)
        entries.append(
            SubscribeEntry(
                _channel(item.get("channel"), rid),
                None if since is None else _int(since, "since", rid, minimum=0),
                presence,
            )
        )
    return Subscribe(rid, tuple(entries))


def _unsubscribe(frame: dict[str, Any]) -> Unsubscribe:
    rid = _request_id(frame, required=False)
    raw = frame.get("channels")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_CHANNELS_PER_FRAME:
        raise ProtocolError(
            "invalid",
            f"channels must be a list of 1-{MAX_CHANNELS_PER_FRAME} names",
            request_id=rid,
        )
    return Unsubscribe(rid, tuple(_channel(c, rid) for c in raw))


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _publish(frame: dict[str, Any]) -> Publish:
    rid = _request_id(frame, required=True)
    channel = _channel(frame.get("channel"), rid)
    body = frame.get("body")
    if not isinstance(body, dict):
        raise ProtocolError("invalid", "body must be a map", request_id=rid)
    # Only what JSON and msgpack carry as the same value (codec.body_problem): the store
    # keeps JSON, and every subscriber on either subprotocol, live or replaying, must get
    # the very body the others get. An integer beyond 64 bits, once stored, could not be
    # packed for any msgpack subscriber; an integer map key reached them as an integer
    # and JSON readers as a string.
    problem = body_problem(body)
    if problem is not None:
        raise ProtocolError(
            "invalid", f"body must be the same in JSON and msgpack: {problem}", request_id=rid
        )
    size = len(json.dumps(body, ensure_ascii=False, allow_nan=False).encode())
    if size <= MAX_BODY_BYTES and _has_nul(body):
        # PostgreSQL stores no NUL in text: refused here, not answered "unavailable" there.
        raise ProtocolError("invalid", "body must not contain NUL characters", request_id=rid)
    if size > MAX_BODY_BYTES:
        raise ProtocolError(
            "body_too_large",
            f"body is {size} bytes as JSON; at most {MAX_BODY_BYTES}",
            request_id=rid,
        )
    ref = frame.get("ref")
    return Publish(rid, channel, body, None if ref is None else _int(ref, "ref", rid, minimum=1))


def _seen(frame: dict[str, Any]) -> Seen:
    return Seen(
        _channel(frame.get("channel"), None),
        _int(frame.get("event_id"), "event_id", None, minimum=1),
    )


def parse(frame: dict[str, Any]) -> Request:
    kind = frame.get("type")
    if kind == "publish":
        return _publish(frame)
    if kind == "subscribe":
        return _subscribe(frame)
    if kind == "unsubscribe":
        return _unsubscribe(frame)
    if kind == "seen":
        return _seen(frame)
    if kind == "ping":
        return Ping(_request_id(frame, required=False))
    if kind == "pong":
        return Pong()
    raw_id = frame.get("id")
    rid = raw_id if isinstance(raw_id, str) and len(raw_id) <= MAX_ID_CHARS else None
    if kind is None:
        raise ProtocolError("unknown_type", "the frame has no type", request_id=rid)
    shown = kind if isinstance(kind, str) and len(kind) <= 40 else "?"
    raise ProtocolError("unknown_type", f"unknown frame type {shown!r}", request_id=rid)
