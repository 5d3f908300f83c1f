"""Mail's hooks into the hub: "who saw it live" from the clients' ``seen`` frames.

A client that displayed the banner of an event change sends
``{"type": "seen", "channel": "event:<id>:news", "event_id": <news event id>}``
(docs/protocol.md); the hub calls :func:`seen_callback`'s result for each one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from storage.channels import ChannelKind, parse_channel
from storage.repo.event_changes import change_for_news_event, record_seen
from web.services import Services

log = logging.getLogger("classhub.mail")

SeenCallback = Callable[[int, str, int], Awaitable[None]]


def seen_callback(services: Services) -> SeenCallback:
    async def on_seen(user_id: int, channel: str, event_id: int) -> None:
        ref = parse_channel(channel)
        if ref is None or ref.kind is not ChannelKind.NEWS:
            return  # seen frames of other channels are someone else's business
        async with services.db.session() as db:
            change = await change_for_news_event(db, event_id)
            if change is None or change.event_id != ref.id:
                return
            await record_seen(db, change_id=change.id, user_id=user_id, via="ws")

    return on_seen


def attach(services: Services) -> None:
    """Register mail's callbacks on the hub (called once the hub exists)."""
    if services.hub is not None:
        services.hub.on_seen(seen_callback(services))
