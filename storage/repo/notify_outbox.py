"""The notification outbox: rows written with the change, claimed with a lease, recorded.

Writing. A row per (change, subscription that hears its topic) is inserted by
one ``INSERT ... SELECT`` in the transaction that stores the change, so a
committed change always has its rows and a rolled-back one has none. Channel
events reach it from all three appenders (``channel_log.append`` calls
``enqueue_events``; the PostgreSQL and SQLite appenders run ``ENQUEUE_SQL``
in their own transaction); with no subscription the statement inserts nothing.

Delivering. The mail outbox's lease (storage/repo/outbox.py): a worker claims
due rows by setting ``lease_until``/``lease_owner`` in one short transaction
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write lock on SQLite), sends,
then records the outcome; a worker that dies leaves rows whose lease expires
and another worker takes them (at least once: the receiver dedups by
``webhook-id``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, insert, literal, null, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import event_types
from storage.channels import event_of, parse_channel
from storage.models import (
    ChannelEvent,
    Event,
    NotifyOutbox,
    OutboxStatus,
    User,
    WebhookSubscription,
    WebhookTopic,
    utcnow,
)
from storage.models.base import UTCDateTime
from storage.webhooks import TOPIC_OF_TYPE, WEBHOOK, topic_case_sql

_COLUMNS = (
    "consumer, target_id, topic, channel_event_id, status, attempts, next_attempt_at, "
    "last_error, created_at"
)


def enqueue_sql(*, event_ids: str, now: str, source: str = "channel_events") -> str:
    """The appenders' statement: ``event_ids`` a condition on ``e.id``, ``now`` the time's
    placeholder, ``source`` the table (or CTE) the new events are read from."""
    # Only this module's constants and the callers' placeholders go in: no request's text.
    parts = [
        f"INSERT INTO notify_outbox ({_COLUMNS})",
        f"SELECT '{WEBHOOK}', s.id, t.topic, e.id, 'queued', 0, {now}, '', {now}",
        f"FROM {source} AS e",
        f"JOIN webhook_topics AS t ON t.topic = {topic_case_sql('e.type')}",
        "JOIN webhook_subscriptions AS s ON s.id = t.subscription_id AND s.active",
        f"WHERE {event_ids}",
    ]
    return " ".join(parts)


def is_release(event_type: str, body: dict[str, Any]) -> bool:
    """A ``note.published`` event that tells of a release (not an approval or reinstatement):
    the topic ``note.released``, enqueued by ``channel_log.append``."""
    return event_type == event_types.NOTE_PUBLISHED and body.get("via") == "release"


def tells(event_type: str) -> bool:
    """Is an event of this type ever told to webhooks (so an appender runs the statement)?"""
    return event_type in TOPIC_OF_TYPE


async def enqueue_events(
    db: AsyncSession, event_ids: Sequence[int], *, topic: str | None = None
) -> None:
    """Rows for these stored channel events, in the caller's transaction: each event's topic
    from its type (``TOPIC_OF_TYPE``), or ``topic`` for all of them (a note released)."""
    if not event_ids:
        return
    now = literal(utcnow(), UTCDateTime())
    e = ChannelEvent
    topic_expr = literal(topic) if topic is not None else case(TOPIC_OF_TYPE, value=e.type)
    sel = (
        select(
            literal(WEBHOOK),
            WebhookSubscription.id,
            WebhookTopic.topic,
            e.id,
            literal(OutboxStatus.QUEUED.value),
            literal(0),
            now,
            literal(""),
            now,
        )
        .select_from(e)
        .join(WebhookTopic, WebhookTopic.topic == topic_expr)
        .join(
            WebhookSubscription,
            and_(
                WebhookSubscription.id == WebhookTopic.subscription_id,
                WebhookSubscription.active == true(),
            ),
        )
        .where(e.id.in_(list(event_ids)))
    )
    await db.execute(
        insert(NotifyOutbox).from_select([c.strip() for c in _COLUMNS.split(",")], sel)
    )


async def enqueue_payload(db: AsyncSession, topic: str, payload: dict[str, Any]) -> None:
    """Rows for a change that is no channel event (an account deleted), carrying ``payload``."""
    subs = (
        (
            await db.execute(
                select(WebhookSubscription.id)
                .join(WebhookTopic, WebhookTopic.subscription_id == WebhookSubscription.id)
                .where(WebhookTopic.topic == topic, WebhookSubscription.active == true())
            )
        )
        .scalars()
        .all()
    )
    now = utcnow()
    if subs:
        await db.execute(
            insert(NotifyOutbox),
            [
                {
                    "consumer": WEBHOOK,
                    "target_id": sid,
                    "topic": topic,
                    "payload": payload,
                    "status": OutboxStatus.QUEUED.value,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "last_error": "",
                    "created_at": now,
                }
                for sid in subs
            ],
        )


@dataclass(frozen=True)
class Claimed:
    id: int
    subscription_id: int
    url: str
    secret: str
    topic: str
    attempts: int
    created_at: dt.datetime
    data: dict[str, Any] | None  # None: nothing left to tell (the event was removed)


def _due(now: dt.datetime) -> list[Any]:
    return [
        NotifyOutbox.consumer == WEBHOOK,
        NotifyOutbox.status == OutboxStatus.QUEUED.value,
        NotifyOutbox.next_attempt_at <= now,
        or_(NotifyOutbox.lease_until.is_(None), NotifyOutbox.lease_until < now),
    ]


async def claim(
    db: AsyncSession, *, owner: str, limit: int, lease_secs: float, now: dt.datetime | None = None
) -> list[Claimed]:
    """Lease up to ``limit`` due webhook deliveries for ``owner``; commit right after."""
    now = now or utcnow()
    # A read first: an idle poll must not take SQLite's write lock (an UPDATE does, even
    # one that matches nothing) from the chat writer every second.
    if (await db.execute(select(NotifyOutbox.id).where(*_due(now)).limit(1))).first() is None:
        return []
    candidates = (
        select(NotifyOutbox.id)
        .where(*_due(now))
        .order_by(NotifyOutbox.next_attempt_at, NotifyOutbox.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("candidates")  # never inlined: see storage/repo/outbox.py
    )
    ids = (
        (
            await db.execute(
                update(NotifyOutbox)
                .where(NotifyOutbox.id.in_(select(candidates.c.id)), *_due(now))
                .values(lease_until=now + dt.timedelta(seconds=lease_secs), lease_owner=owner)
                .returning(NotifyOutbox.id)
            )
        )
        .scalars()
        .all()
    )
    if not ids:
        return []
    rows = (
        await db.execute(
            select(NotifyOutbox, WebhookSubscription, ChannelEvent)
            .join(WebhookSubscription, WebhookSubscription.id == NotifyOutbox.target_id)
            .outerjoin(ChannelEvent, ChannelEvent.id == NotifyOutbox.channel_event_id)
            .where(NotifyOutbox.id.in_(ids))
            .order_by(NotifyOutbox.id)
        )
    ).all()
    externals = await _event_externals(db, [ev for _, _, ev in rows if ev is not None])
    out = []
    for row, sub, ev in rows:
        data: dict[str, Any] | None
        if row.channel_event_id is None:
            data = row.payload
        elif ev is None or not sub.active:
            data = None
        else:
            data = event_data(ev, externals)
        out.append(
            Claimed(
                row.id,
                sub.id,
                sub.url,
                sub.secret,
                row.topic,
                row.attempts,
                row.created_at,
                data if sub.active else None,
            )
        )
    return out


async def _event_externals(db: AsyncSession, events: list[ChannelEvent]) -> dict[str, Any]:
    """External ids of the events and authors these channel events name."""
    event_ids = {e for ev in events if (e := event_of(parse_channel(ev.channel))) is not None}
    user_ids = {ev.author_id for ev in events if ev.author_id is not None}
    out: dict[str, Any] = {}
    if event_ids:
        for eid, ext in await db.execute(
            select(Event.id, Event.external_id).where(Event.id.in_(event_ids))
        ):
            out[f"event:{eid}"] = ext
    if user_ids:
        for uid, ext in await db.execute(
            select(User.id, User.external_id).where(User.id.in_(user_ids))
        ):
            out[f"user:{uid}"] = ext
    return out


def event_data(ev: ChannelEvent, externals: dict[str, Any]) -> dict[str, Any]:
    """The ``data`` of a delivery telling of a channel event. A direct message's text (or
    anything of its body) is never sent: its ``body`` is left out."""
    event_id = event_of(parse_channel(ev.channel))
    data: dict[str, Any] = {
        "event_id": ev.id,
        "channel": ev.channel,
        "seq": ev.seq,
        "type": ev.type,
        "author_id": ev.author_id,
        "author_external_id": externals.get(f"user:{ev.author_id}"),
        "classhub_event_id": event_id,
        "external_event_id": externals.get(f"event:{event_id}"),
        "ref": ev.ref_id,
        "created_at": ev.created_at.astimezone(dt.UTC).isoformat(),
    }
    if not ev.channel.startswith("dm:"):
        data["body"] = ev.body
    return data


async def mark_delivered(db: AsyncSession, row_id: int, *, status_code: int) -> None:
    await db.execute(
        update(NotifyOutbox)
        .where(NotifyOutbox.id == row_id, NotifyOutbox.status == OutboxStatus.QUEUED.value)
        .values(
            status=OutboxStatus.DELIVERED.value,
            attempts=NotifyOutbox.attempts + 1,
            last_status_code=status_code,
            last_error="",
            delivered_at=utcnow(),
            lease_until=None,
            lease_owner=None,
        )
    )


async def mark_skipped(db: AsyncSession, row_id: int) -> None:
    await db.execute(
        update(NotifyOutbox)
        .where(NotifyOutbox.id == row_id, NotifyOutbox.status == OutboxStatus.QUEUED.value)
        .values(
            status=OutboxStatus.SKIPPED.value,
            lease_until=None,
            lease_owner=None,
            last_error="nothing left to tell: the event was removed or the subscription ended",
        )
    )


async def mark_attempt_failed(
    db: AsyncSession,
    row_id: int,
    *,
    error: str,
    status_code: int | None,
    next_attempt_at: dt.datetime | None,
) -> None:
    """One failed attempt: retried at ``next_attempt_at``, or ``failed`` when None."""
    values: dict[str, Any] = {
        "attempts": NotifyOutbox.attempts + 1,
        "last_error": error[:2000],
        "last_status_code": status_code,
        "lease_until": None,
        "lease_owner": None,
    }
    if next_attempt_at is None:
        values["status"] = OutboxStatus.FAILED.value
    else:
        values["next_attempt_at"] = next_attempt_at
    await db.execute(
        update(NotifyOutbox)
        .where(NotifyOutbox.id == row_id, NotifyOutbox.status == OutboxStatus.QUEUED.value)
        .values(**values)
    )


async def replay(db: AsyncSession, *, subscription_id: int, row_id: int | None = None) -> int:
    """Queue failed deliveries of a subscription again (one, or all of them): attempts
    start over."""
    conds = [
        NotifyOutbox.consumer == WEBHOOK,
        NotifyOutbox.target_id == subscription_id,
        NotifyOutbox.status == OutboxStatus.FAILED.value,
    ]
    if row_id is not None:
        conds.append(NotifyOutbox.id == row_id)
    result = await db.execute(
        update(NotifyOutbox)
        .where(*conds)
        .values(
            status=OutboxStatus.QUEUED.value,
            attempts=0,
            next_attempt_at=utcnow(),
            lease_until=None,
            lease_owner=None,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def release(db: AsyncSession, ids: Sequence[int], owner: str) -> None:
    """Give back claimed rows never started (shutdown)."""
    if ids:
        await db.execute(
            update(NotifyOutbox)
            .where(NotifyOutbox.id.in_(list(ids)), NotifyOutbox.lease_owner == owner)
            .values(lease_until=None, lease_owner=None)
        )


def delivery_columns() -> Any:
    n = NotifyOutbox
    return select(
        n.id,
        n.target_id,
        n.topic,
        n.channel_event_id,
        n.status,
        n.attempts,
        n.next_attempt_at,
        n.last_error,
        n.last_status_code,
        n.created_at,
        n.delivered_at,
    ).where(n.consumer == WEBHOOK, n.target_id.is_not(null()))


__all__ = [
    "Claimed",
    "claim",
    "delivery_columns",
    "enqueue_events",
    "enqueue_payload",
    "enqueue_sql",
    "mark_attempt_failed",
    "mark_delivered",
    "mark_skipped",
    "release",
    "replay",
    "tells",
]
