"""The broker interface the hub codes against."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Sequence

MessageHandler = Callable[[str, bytes], None]
ReconnectHandler = Callable[[], Awaitable[None]]


class Broker(abc.ABC):
    """Topics are plain names (a channel name, or ``control``); the broker adds its prefix.

    ``on_message(topic, payload)`` is called synchronously from the broker's
    listener for every message on a subscribed topic, this process's own
    publications included. ``on_reconnect()`` runs after the broker lost its
    subscriptions and got them back: messages in between may be lost, so the
    hub fills from the store.
    """

    on_message: MessageHandler
    on_reconnect: ReconnectHandler | None = None

    @abc.abstractmethod
    async def connect(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def subscribe(self, topic: str) -> None:
        """Returns once messages published from now on will arrive (or the broker is down,
        in which case the subscription is made on reconnect and ``on_reconnect`` follows)."""

    @abc.abstractmethod
    async def unsubscribe(self, topic: str) -> None: ...

    @abc.abstractmethod
    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """Publish in order (one round trip where the broker allows it)."""

    async def publish(self, topic: str, payload: bytes) -> None:
        await self.publish_many([(topic, payload)])

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise if the broker cannot be reached."""

    @abc.abstractmethod
    async def claim_once(self, key: str, ttl_secs: int) -> bool:
        """True for the first caller of ``key`` within ``ttl_secs`` across all processes."""
