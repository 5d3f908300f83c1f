"""The control topic between processes: how a message is put on it.

Every process's hub subscribes to ``CONTROL``; a message is this process's node id
(8 bytes, so a process skips its own) and a msgpack map with an ``op``. Which ops
there are and what a process does with one: realtime/cluster.py.
"""

from __future__ import annotations

import secrets
from typing import Any

import msgpack

from realtime.brokers import Broker, broker_from_url
from storage.account_changes import AccountChanges
from storage.settings import Settings

CONTROL = "control"


class ControlTopic:
    __slots__ = ("broker", "node", "node_b")

    def __init__(self, broker: Broker, node: str) -> None:
        self.broker = broker
        self.node = node
        self.node_b = node.encode()

    async def send(self, message: dict[str, Any]) -> None:
        await self.broker.publish(CONTROL, self.node_b + msgpack.packb(message))


def accounts_message(changes: AccountChanges) -> dict[str, Any]:
    return {
        "op": "accounts_changed",
        "user_ids": sorted(changes.user_ids),
        "session_hashes": sorted(changes.session_hashes),
        "everything": changes.everything,
    }


async def announce_accounts_changed(settings: Settings, changes: AccountChanges) -> None:
    """From a process without a hub (the ``classhub`` CLI): tell the servers on the
    broker's control topic, as a hub would. Only a shared broker (Redis) reaches them."""
    broker = broker_from_url(settings.redis_url, prefix=settings.redis_prefix)
    await broker.connect()
    try:
        await ControlTopic(broker, secrets.token_hex(4)).send(accounts_message(changes))
    finally:
        await broker.close()
