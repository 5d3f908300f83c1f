"""``channel_log.append`` for PostgreSQL in as few round trips as the rules allow.

The batch writer (``storage/batch_writer.py``) stores every chat message
through ``PgAppender`` (``storage/event_log.py`` picks it from the URL);
through the ORM one commit cost ~2 ms of the server's CPU (statement construction, cache keys,
greenlet hops, one ``SELECT 1`` pre-ping per checkout), which alone used up the
classroom budget of 8 µs per delivery at 300 receivers. This module does the
same work with asyncpg on one dedicated connection, statements prepared once:

1. ``BEGIN``;
2. only for items with a client id: one ``SELECT`` of already stored
   (author_id, client_id) pairs, passed as two arrays;
3. per channel, in name order (so two processes never deadlock): one upsert of
   the channel row that reserves ``n`` sequence numbers and returns the last;
4. one ``INSERT ... SELECT FROM unnest(...)`` of every new event;
5. ``COMMIT``.

Usually there is nothing to deduplicate (a retry after a lost ack is rare), so
steps 2 to 4 are first tried optimistically as one statement per channel (a
data-modifying CTE: reserve, then insert), without ``BEGIN``/``COMMIT`` when
the batch has one channel: one round trip per commit. A duplicate (author,
client id) makes that statement fail on the unique constraint, which undoes
the reservation with it; then the batch takes the careful path above.

The result is exactly ``channel_log.append``'s (same order, same ``duplicate``
flags, same dedup inside one batch), so the writer can use either; the tests
run both against one database and compare.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import asyncpg

from storage.models import utcnow
from storage.repo.channel_log import NewEvent, StoredEvent, finish_append, plan_append
from storage.repo.notify_outbox import enqueue_sql, tells

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

_EXISTING = """
SELECT e.id, e.channel, e.seq, e.type, e.author_id, e.client_id, e.ref_id, e.body::text,
  e.created_at
FROM channel_events AS e
JOIN unnest($1::bigint[], $2::text[]) AS k(author_id, client_id)
  ON e.author_id = k.author_id AND e.client_id = k.client_id
"""

_RESERVE = """
INSERT INTO channels (name, last_seq) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET last_seq = channels.last_seq + EXCLUDED.last_seq
RETURNING last_seq
"""

_INSERT = """
INSERT INTO channel_events (channel, seq, type, author_id, client_id, ref_id, body, created_at)
SELECT u.channel, u.seq, u.type, u.author_id, u.client_id, u.ref_id, u.body::json, $8
FROM unnest(
  $1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::bigint[], $7::text[]
)
  AS u(channel, seq, type, author_id, client_id, ref_id, body)
RETURNING id, channel, seq
"""


# The webhook deliveries of the new events go in with them (repo/notify_outbox.py): a
# data-modifying CTE, so the one-channel batch stays one statement, one round trip.
_RESERVE_AND_INSERT = f"""
WITH r AS (
  INSERT INTO channels (name, last_seq) VALUES ($1, $2)
  ON CONFLICT (name) DO UPDATE SET last_seq = channels.last_seq + EXCLUDED.last_seq
  RETURNING last_seq
), ins AS (
INSERT INTO channel_events (channel, seq, type, author_id, client_id, ref_id, body, created_at)
SELECT $1, r.last_seq - $2 + u.ord, u.type, u.author_id, u.client_id, u.ref_id, u.body::json, $8
FROM r, unnest($3::text[], $4::bigint[], $5::text[], $6::bigint[], $7::text[])
  WITH ORDINALITY AS u(type, author_id, client_id, ref_id, body, ord)
RETURNING id, seq, type
), told AS (
{enqueue_sql(event_ids="true", now="$8", source="ins")}
)
SELECT id, seq FROM ins
"""  # noqa: S608 - constants of repo/notify_outbox.py and placeholders only

_ENQUEUE = enqueue_sql(event_ids="e.id = ANY($2::bigint[])", now="$1")

CLIENT_ID_CONSTRAINT = "uq_channel_events_author_id_client_id"


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """``postgresql+asyncpg://u@h/db`` (SQLAlchemy's spelling) as asyncpg wants it."""
    from sqlalchemy.engine import make_url

    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class PgAppender:
    """One asyncpg connection of its own; a broken one is dropped and replaced on the
    next ``append`` (its batch fails: the writer answers ``store_unavailable``)."""

    def __init__(self, sqlalchemy_url: str) -> None:
        self._dsn = asyncpg_dsn(sqlalchemy_url)
        self._conn: asyncpg.Connection | None = None

    async def append(self, items: Sequence[NewEvent]) -> list[StoredEvent]:
        conn = self._conn
        if conn is None or conn.is_closed():
            conn = self._conn = await asyncpg.connect(self._dsn)
        try:
            return await append(conn, items)
        except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError):
            # The connection is gone (server restart, network): a new one next time.
            self._conn = None
            conn.terminate()
            raise

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None


async def append(conn: asyncpg.Connection, items: Sequence[NewEvent]) -> list[StoredEvent]:
    """Store ``items`` in one transaction on ``conn``; see ``channel_log.append``."""
    try:
        return await _append_optimistic(conn, items)
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name != CLIENT_ID_CONSTRAINT:
            raise
    return await _append_careful(conn, items)


async def _append_optimistic(
    conn: asyncpg.Connection, items: Sequence[NewEvent]
) -> list[StoredEvent]:
    by_channel: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        by_channel[it.channel].append(i)
    now = utcnow()
    naive = now.replace(tzinfo=None)
    results: list[StoredEvent | None] = [None] * len(items)

    async def one_channel(name: str, indexes: list[int]) -> None:
        batch = [items[i] for i in indexes]
        rows = await conn.fetch(
            _RESERVE_AND_INSERT,
            name,
            len(batch),
            [it.type for it in batch],
            [it.author_id for it in batch],
            [it.client_id for it in batch],
            [it.ref_id for it in batch],
            [_dumps(it.body) for it in batch],
            naive,
        )
        first = min(r[1] for r in rows)
        ids = {r[1]: r[0] for r in rows}
        for offset, i in enumerate(indexes):
            it = items[i]
            results[i] = StoredEvent(
                id=ids[first + offset], channel=name, seq=first + offset, type=it.type,
                author_id=it.author_id, client_id=it.client_id, ref_id=it.ref_id,
                body=it.body, created_at=now,
            )

    if len(by_channel) == 1:
        (name, indexes), = by_channel.items()
        await one_channel(name, indexes)  # one statement: its own transaction
    else:
        async with conn.transaction():
            for name in sorted(by_channel):  # lock order: never a deadlock between processes
                await one_channel(name, by_channel[name])
    return results  # type: ignore[return-value]


async def _append_careful(conn: asyncpg.Connection, items: Sequence[NewEvent]) -> list[StoredEvent]:
    results: list[StoredEvent | None] = [None] * len(items)
    async with conn.transaction():
        existing: dict[tuple[int, str], StoredEvent] = {}
        keys = {
            (it.author_id, it.client_id)
            for it in items
            if it.client_id is not None and it.author_id is not None
        }
        if keys:
            authors = [k[0] for k in keys]
            clients = [k[1] for k in keys]
            for r in await conn.fetch(_EXISTING, authors, clients):
                existing[(r[4], r[5])] = StoredEvent(
                    id=r[0], channel=r[1], seq=r[2], type=r[3], author_id=r[4], client_id=r[5],
                    ref_id=r[6], body=json.loads(r[7]), created_at=_aware(r[8]), duplicate=True,
                )
        fresh, later_duplicates = plan_append(items, existing, results)
        if fresh:
            now = utcnow()
            cols: tuple[list[Any], ...] = ([], [], [], [], [], [], [])
            order: list[int] = []
            for name in sorted(fresh):
                indexes = fresh[name]
                last = await conn.fetchval(_RESERVE, name, len(indexes))
                seq = last - len(indexes)
                for i in indexes:
                    it = items[i]
                    seq += 1
                    cols[0].append(name)
                    cols[1].append(seq)
                    cols[2].append(it.type)
                    cols[3].append(it.author_id)
                    cols[4].append(it.client_id)
                    cols[5].append(it.ref_id)
                    cols[6].append(_dumps(it.body))
                    order.append(i)
            rows = await conn.fetch(_INSERT, *cols, now.replace(tzinfo=None))
            ids = {(r[1], r[2]): r[0] for r in rows}
            kinds = dict(zip(zip(cols[0], cols[1], strict=True), cols[2], strict=True))
            told = [r[0] for r in rows if tells(kinds[(r[1], r[2])])]
            if told:
                await conn.execute(_ENQUEUE, now.replace(tzinfo=None), told)
            for n, i in enumerate(order):
                it = items[i]
                channel, seq = cols[0][n], cols[1][n]
                results[i] = StoredEvent(
                    id=ids[(channel, seq)], channel=channel, seq=seq, type=it.type,
                    author_id=it.author_id, client_id=it.client_id, ref_id=it.ref_id,
                    body=it.body, created_at=now,
                )
    return finish_append(results, later_duplicates)


def _aware(value: Any) -> Any:
    import datetime as dt

    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
