"""Appending to and reading from channel logs.

``append`` is the one way events enter the store, used by the event log's
batch writer (``storage/batch_writer.py``: many publishes, one transaction,
through the appender ``storage/event_log.py`` picks) and by features that
change state and log the change in the same transaction (a note released, an
event cancelled). After the caller's transaction commits, it hands the
returned events to the hub to fan out.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage import event_types
from storage.models import Channel, ChannelEvent, utcnow
from storage.repo import notify_outbox
from storage.webhooks import NOTE_RELEASED


@dataclass(frozen=True, slots=True)
class NewEvent:
    channel: str
    type: str
    body: dict[str, Any] = field(default_factory=dict)
    author_id: int | None = None
    client_id: str | None = None
    ref_id: int | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    channel: str
    seq: int
    type: str
    author_id: int | None
    client_id: str | None
    ref_id: int | None
    body: dict[str, Any]
    created_at: dt.datetime
    # True when this answers a retried publish: the event was stored before.
    duplicate: bool = False

    @classmethod
    def from_row(cls, row: ChannelEvent, *, duplicate: bool = False) -> StoredEvent:
        return cls(
            id=row.id,
            channel=row.channel,
            seq=row.seq,
            type=row.type,
            author_id=row.author_id,
            client_id=row.client_id,
            ref_id=row.ref_id,
            body=row.body,
            created_at=row.created_at,
            duplicate=duplicate,
        )


async def ensure_channels(db: AsyncSession, names: Sequence[str]) -> None:
    if not names:
        return
    dialect = db.get_bind().dialect.name
    stmt_factory = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = stmt_factory(Channel).on_conflict_do_nothing(index_elements=["name"])
    await db.execute(stmt, [{"name": n, "last_seq": 0} for n in sorted(set(names))])


async def append(db: AsyncSession, items: Sequence[NewEvent]) -> list[StoredEvent]:
    """Store ``items`` in order; returns one StoredEvent per item, in the same order.

    An item whose (author_id, client_id) was stored before (or appears earlier in
    the same batch) is not stored again: its result is the earlier event with
    ``duplicate=True``. Channel rows are locked in name order so concurrent
    writers on several processes cannot deadlock.
    """
    results: list[StoredEvent | None] = [None] * len(items)
    keyed = [
        (i, it)
        for i, it in enumerate(items)
        if it.client_id is not None and it.author_id is not None
    ]
    existing: dict[tuple[int, str], StoredEvent] = {}
    if keyed:
        pairs = list({(it.author_id, it.client_id) for _, it in keyed})
        rows = (
            await db.execute(
                select(ChannelEvent).where(
                    tuple_(ChannelEvent.author_id, ChannelEvent.client_id).in_(pairs)
                )
            )
        ).scalars()
        for row in rows:
            if row.author_id is None or row.client_id is None:
                raise RuntimeError(f"event {row.id} matched a publish key it does not have")
            existing[(row.author_id, row.client_id)] = StoredEvent.from_row(row, duplicate=True)

    fresh, later_duplicates = plan_append(items, existing, results)

    if fresh:
        await ensure_channels(db, list(fresh))
        now = utcnow()
        rows_to_insert: list[dict[str, Any]] = []
        order: list[int] = []
        for name in sorted(fresh):
            indexes = fresh[name]
            last = (
                await db.execute(
                    update(Channel)
                    .where(Channel.name == name)
                    .values(last_seq=Channel.last_seq + len(indexes))
                    .returning(Channel.last_seq)
                )
            ).scalar_one()
            first_seq = last - len(indexes) + 1
            for offset, i in enumerate(indexes):
                it = items[i]
                rows_to_insert.append(
                    {
                        "channel": name,
                        "seq": first_seq + offset,
                        "type": it.type,
                        "author_id": it.author_id,
                        "client_id": it.client_id,
                        "ref_id": it.ref_id,
                        "body": it.body,
                        "created_at": now,
                    }
                )
                order.append(i)
        ids = (
            await db.execute(
                insert(ChannelEvent).returning(ChannelEvent.id, sort_by_parameter_order=True),
                rows_to_insert,
            )
        ).scalars().all()
        for i, values, event_id in zip(order, rows_to_insert, ids, strict=True):
            results[i] = StoredEvent(id=event_id, duplicate=False, **values)
        # Webhook deliveries of these events, in this transaction (storage/repo/notify_outbox.py).
        told = [
            event_id
            for values, event_id in zip(rows_to_insert, ids, strict=True)
            if notify_outbox.tells(values["type"])
        ]
        await notify_outbox.enqueue_events(db, told)
        released = [
            event_id
            for values, event_id in zip(rows_to_insert, ids, strict=True)
            if notify_outbox.is_release(values["type"], values["body"])
        ]
        await notify_outbox.enqueue_events(db, released, topic=NOTE_RELEASED)

    return finish_append(results, later_duplicates)


def plan_append(
    items: Sequence[NewEvent],
    existing: dict[tuple[int, str], StoredEvent],
    results: list[StoredEvent | None],
) -> tuple[dict[str, list[int]], list[tuple[int, int]]]:
    """Which items to store, per channel in item order, and which repeat an earlier one.

    Items whose (author, client id) is in ``existing`` (stored before) get that event
    in ``results`` at once. Returns ``fresh`` (channel -> item indexes) and the
    pairs (index, index of the same key earlier in this batch) for ``finish_append``.
    Shared by both appenders (this one and ``channel_log_pg``).
    """
    fresh: dict[str, list[int]] = defaultdict(list)
    first_in_batch: dict[tuple[int, str], int] = {}
    later_duplicates: list[tuple[int, int]] = []
    for i, it in enumerate(items):
        if it.client_id is not None and it.author_id is not None:
            key = (it.author_id, it.client_id)
            hit = existing.get(key)
            if hit is not None:
                results[i] = hit
                continue
            if key in first_in_batch:
                later_duplicates.append((i, first_in_batch[key]))
                continue
            first_in_batch[key] = i
        fresh[it.channel].append(i)
    return fresh, later_duplicates


def finish_append(
    results: list[StoredEvent | None], later_duplicates: list[tuple[int, int]]
) -> list[StoredEvent]:
    """Answer the in-batch repeats with their first occurrence's event, marked duplicate."""
    for i, first in later_duplicates:
        original = results[first]
        if original is None:
            raise RuntimeError(f"item {i} repeats item {first}, which has no result")
        results[i] = replace(original, duplicate=True)
    return [r for r in results if r is not None]


async def last_seq(db: AsyncSession, channel: str) -> int:
    value = (await db.execute(select(Channel.last_seq).where(Channel.name == channel))).scalar()
    return int(value or 0)


async def heads_of(db: AsyncSession, channels: Sequence[str]) -> dict[str, int]:
    """The last sequence number of each of ``channels`` that has one."""
    rows = await db.execute(
        select(Channel.name, Channel.last_seq).where(Channel.name.in_(channels))
    )
    return {name: int(last) for name, last in rows}


async def read_since(
    db: AsyncSession, channel: str, since: int, limit: int
) -> list[StoredEvent]:
    """Stored events with seq > since in order, at most ``limit`` of them.

    Removed events leave holes here; what a subscriber replays comes from ``read_log``.
    """
    rows = (
        await db.execute(
            select(ChannelEvent)
            .where(ChannelEvent.channel == channel, ChannelEvent.seq > since)
            .order_by(ChannelEvent.seq)
            .limit(limit)
        )
    ).scalars()
    return [StoredEvent.from_row(r) for r in rows]


# The type of a placeholder for a sequence number whose event was removed.
ERASED = event_types.ERASED


def erased(channel: str, seq: int, at: dt.datetime) -> StoredEvent:
    """What the log reads as at ``seq`` once its event was removed: nothing of it.

    No author, no body, no reference and id 0 (no event has it); ``at`` is a time no
    earlier than the removed event's (the next kept event's, or the time of reading).
    """
    return StoredEvent(
        id=0, channel=channel, seq=seq, type=ERASED, author_id=None, client_id=None,
        ref_id=None, body={}, created_at=at,
    )


async def read_log(
    db: AsyncSession, channel: str, since: int, limit: int, *, head: int | None = None
) -> list[StoredEvent]:
    """The channel's log after ``since``, gapless: one event per sequence number.

    Covers ``since < seq <= min(head, since + limit)``, where ``head`` is the channel's
    ``last_seq`` (read here unless the caller read it in this session before). Events
    are removed from the log for good by erasure, retention and an admin's removal of
    contributions, and a database may hold holes from before this reader; a sequence
    number at or below the head without a row is such a removal (numbers are taken
    and their rows written in one transaction, so a committed head has all its rows
    committed), and reads as an ``erased`` placeholder. So a replay, and a live
    feed's gap fill, never meet a hole they would wait on for ever.
    """
    if head is None:
        head = await last_seq(db, channel)
    last = min(head, since + limit)
    if last <= since:
        return []
    rows = (
        await db.execute(
            select(ChannelEvent)
            .where(
                ChannelEvent.channel == channel, ChannelEvent.seq > since, ChannelEvent.seq <= last
            )
            .order_by(ChannelEvent.seq)
        )
    ).scalars()
    out: list[StoredEvent] = []
    expected = since + 1
    for row in rows:
        for seq in range(expected, row.seq):
            out.append(erased(channel, seq, row.created_at))
        out.append(StoredEvent.from_row(row))
        expected = row.seq + 1
    if expected <= last:
        now = utcnow()
        out.extend(erased(channel, seq, now) for seq in range(expected, last + 1))
    return out


async def read_range(db: AsyncSession, channel: str, first: int, last: int) -> list[StoredEvent]:
    """Stored events with first <= seq <= last, in order (holes where events were removed)."""
    rows = (
        await db.execute(
            select(ChannelEvent)
            .where(
                ChannelEvent.channel == channel,
                ChannelEvent.seq >= first,
                ChannelEvent.seq <= last,
            )
            .order_by(ChannelEvent.seq)
        )
    ).scalars()
    return [StoredEvent.from_row(r) for r in rows]
