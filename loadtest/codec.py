"""The two subprotocols of docs/protocol.md: the same frames as JSON text or msgpack binary.

Names and encoders are the server's own (realtime.protocol.codec: sans-I/O, the one part
of the server the load tool may import). Decoding stays here: the server's decoders
check a client's frames, these read the server's, and json.loads takes the bytes the
WebSocket client hands over without a decode to str first.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack

from realtime.protocol.codec import JSON, JSON_SUBPROTOCOL, MSGPACK, MSGPACK_SUBPROTOCOL

SUBPROTOCOLS = {"json": JSON_SUBPROTOCOL, "msgpack": MSGPACK_SUBPROTOCOL}


@dataclass(frozen=True)
class Codec:
    name: str
    subprotocol: str
    encode: Callable[[dict[str, Any]], bytes | str]
    decode: Callable[[bytes], Any]


def get_codec(name: str) -> Codec:
    if name == "json":
        return Codec("json", JSON_SUBPROTOCOL, JSON.encode, json.loads)
    if name == "msgpack":
        return Codec("msgpack", MSGPACK_SUBPROTOCOL, MSGPACK.encode, msgpack.unpackb)
    raise ValueError(f"unknown protocol {name!r} (json or msgpack)")


def post_text(body_bytes: int, sent_ns: int, tag: str) -> str:
    """A post of ``body_bytes`` characters that carries its send time for the latency.

    ``@<19-digit ns since the epoch> <tag> xxxx...``; every generator process runs
    on the same machine, so wall-clock times compare across processes.
    """
    head = f"@{sent_ns:019d} {tag} "
    return head + "x" * max(0, body_bytes - len(head))


def sent_at(text: Any) -> float | None:
    """The send time (seconds since the epoch) a bot wrote into ``text``, if it is one."""
    if type(text) is str and len(text) > 20 and text[0] == "@":
        try:
            return int(text[1:20]) / 1e9
        except ValueError:
            return None
    return None
