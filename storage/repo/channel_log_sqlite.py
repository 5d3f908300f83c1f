"""``channel_log.append`` for the embedded default (SQLite) in one hop to one thread.

Through the ORM and aiosqlite a group commit is five or six statements, each a
round trip between the event loop and aiosqlite's thread plus SQLAlchemy's
statement construction: ~5 ms from submit to commit and most of the embedded
server's CPU per post. Here the whole transaction runs as one function call on
a dedicated thread with its own ``sqlite3`` connection (the pragmas of
``storage.db``): ``BEGIN IMMEDIATE`` (the write lock first, so the dedup read
inside is final: nobody can store the same (author, client id) meanwhile), one
``SELECT`` of already stored (author_id, client_id) pairs, per channel in name
order one upsert reserving its sequence numbers, one ``INSERT`` per event,
``COMMIT``.

The result is exactly ``channel_log.append``'s (same order, same ``duplicate``
flags, same dedup inside one batch); values are stored as the ORM stores them
(SQLAlchemy's own datetime and JSON formats), and the full-text trigger fires
as for any insert. The tests run both appenders against one database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.dialects.sqlite import DATETIME
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.engine import make_url

from storage.db import SQLITE_BUSY_TIMEOUT_MS, _sqlite_pragmas
from storage.models import utcnow
from storage.repo.channel_log import NewEvent, StoredEvent, finish_append, plan_append
from storage.repo.notify_outbox import enqueue_sql, tells

# The ORM's own formats for these columns, so both appenders write the same text.
_stamp_or_none = DATETIME().bind_processor(sqlite_dialect())  # type: ignore[no-untyped-call]
if _stamp_or_none is None:  # pragma: no cover - SQLAlchemy's SQLite DATETIME always has one
    raise RuntimeError("SQLAlchemy's SQLite DATETIME has no bind processor")
_stamp = _stamp_or_none
_dumps = json.dumps

_EXISTING = (
    "SELECT id, channel, seq, type, author_id, client_id, ref_id, body, created_at "
    "FROM channel_events "
    "WHERE (author_id, client_id) IN (VALUES {})"
)
_RESERVE = (
    "INSERT INTO channels (name, last_seq) VALUES (?, ?) "
    "ON CONFLICT (name) DO UPDATE SET last_seq = last_seq + excluded.last_seq RETURNING last_seq"
)
_INSERT = (
    "INSERT INTO channel_events "
    "(channel, seq, type, author_id, client_id, ref_id, body, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _database(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).database or ":memory:"


class SqliteAppender:
    """One connection, one thread; ``append`` is awaited from the event loop."""

    def __init__(self, sqlalchemy_url: str) -> None:
        self._path = _database(sqlalchemy_url)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="classhub-sqlite-appender")
        self._conn: sqlite3.Connection | None = None

    @staticmethod
    def in_memory(sqlalchemy_url: str) -> bool:
        return _database(sqlalchemy_url) == ":memory:"

    async def append(self, items: Sequence[NewEvent]) -> list[StoredEvent]:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._append, list(items)
        )

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=False)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(
                self._path,
                timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            _sqlite_pragmas(conn, None)
            self._conn = conn
        return self._conn

    def _append(self, items: list[NewEvent]) -> list[StoredEvent]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            out = self._append_locked(conn, items)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return out

    def _append_locked(self, conn: sqlite3.Connection, items: list[NewEvent]) -> list[StoredEvent]:
        results: list[StoredEvent | None] = [None] * len(items)
        existing: dict[tuple[int, str], StoredEvent] = {}
        keys = list(
            {
                (it.author_id, it.client_id)
                for it in items
                if it.client_id is not None and it.author_id is not None
            }
        )
        if keys:
            sql = _EXISTING.format(",".join("(?, ?)" for _ in keys))
            for r in conn.execute(sql, [v for k in keys for v in k]):
                existing[(r[4], r[5])] = StoredEvent(
                    id=r[0],
                    channel=r[1],
                    seq=r[2],
                    type=r[3],
                    author_id=r[4],
                    client_id=r[5],
                    ref_id=r[6],
                    body=json.loads(r[7]),
                    created_at=dt.datetime.fromisoformat(r[8]).replace(tzinfo=dt.UTC),
                    duplicate=True,
                )
        fresh, later_duplicates = plan_append(items, existing, results)
        if fresh:
            now = utcnow()
            stamp = _stamp(now.replace(tzinfo=None))
            for name in sorted(fresh):  # the same lock order as the other appenders
                indexes = fresh[name]
                last = conn.execute(_RESERVE, (name, len(indexes))).fetchone()[0]
                seq = last - len(indexes)
                for i in indexes:
                    it = items[i]
                    seq += 1
                    cur = conn.execute(
                        _INSERT,
                        (
                            name,
                            seq,
                            it.type,
                            it.author_id,
                            it.client_id,
                            it.ref_id,
                            _dumps(it.body),
                            stamp,
                        ),
                    )
                    if cur.lastrowid is None:
                        raise RuntimeError("INSERT into channel_events gave no row id")
                    results[i] = StoredEvent(
                        id=cur.lastrowid,
                        channel=name,
                        seq=seq,
                        type=it.type,
                        author_id=it.author_id,
                        client_id=it.client_id,
                        ref_id=it.ref_id,
                        body=it.body,
                        created_at=now,
                    )
            # Webhook deliveries of these events, in this transaction (repo/notify_outbox.py).
            told = [r.id for r in results if r is not None and tells(r.type)]
            if told:
                conn.execute(
                    enqueue_sql(event_ids=f"e.id IN ({','.join('?' * len(told))})", now="?"),
                    [stamp, stamp, *told],
                )
        return finish_append(results, later_duplicates)
