"""The two subprotocols of docs/protocol.md: the same frames as JSON text or msgpack binary."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack

SUBPROTOCOLS = {"json": "classhub.json.v1", "msgpack": "classhub.msgpack.v1"}


@dataclass(frozen=True)
class Codec:
    name: str
    subprotocol: str
    encode: Callable[[dict[str, Any]], bytes | str]
    decode: Callable[[bytes], Any]


def _json_encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"))


_packer = msgpack.Packer()


def _msgpack_encode(frame: dict[str, Any]) -> bytes:
    out: bytes = _packer.pack(frame)
    return out


def get_codec(name: str) -> Codec:
    if name == "json":
        return Codec("json", SUBPROTOCOLS["json"], _json_encode, json.loads)
    if name == "msgpack":
        return Codec("msgpack", SUBPROTOCOLS["msgpack"], _msgpack_encode, msgpack.unpackb)
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
