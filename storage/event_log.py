"""Appending to the event log: which appender, decided once from the database URL.

``open_appender(db)`` returns the fastest correct way to run
``channel_log.append`` as a transaction of its own on this database:

* PostgreSQL: ``PgAppender`` (``repo/channel_log_pg.py``), one asyncpg
  connection with prepared statements, a commit in one to five round trips;
* a SQLite file: ``SqliteAppender`` (``repo/channel_log_sqlite.py``), the whole
  transaction as one call on a thread of its own with its own connection;
* anything else (an in-memory SQLite database is per connection, so only the
  engine's own connection sees it): ``OrmAppender``, ``channel_log.append`` in
  a session of ``db``.

All three give exactly ``channel_log.append``'s result (tests/test_channel_log.py
runs them against one database). A failed transaction raises one of
``STORE_ERRORS`` and stores nothing; only the storage layer (the batch writer)
looks at those: callers above it see ``StoreUnavailable``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg
from sqlalchemy.exc import SQLAlchemyError

from storage.db import Database
from storage.repo import channel_log
from storage.repo.channel_log import NewEvent, StoredEvent
from storage.repo.channel_log_pg import PgAppender
from storage.repo.channel_log_sqlite import SqliteAppender

# What a failed store raises: the ORM (both dialects), sqlite3, asyncpg, the network.
STORE_ERRORS: tuple[type[BaseException], ...] = (
    SQLAlchemyError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError, OSError,
)


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ is twice as slow (hot path)
class WriteItem:
    """One event for the event log's batch writer, and the author's name to show with
    it when it is fanned out (the publisher's, as the session knows it)."""

    event: NewEvent
    author_name: str | None


class Appender(Protocol):
    async def append(self, items: Sequence[NewEvent]) -> list[StoredEvent]:
        """Store ``items`` in one transaction; one result per item, in order."""

    async def close(self) -> None:
        """Let go of the connection or thread; ``append`` is not called again."""


class OrmAppender:
    """``channel_log.append`` in a session of its own (committed on return)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(self, items: Sequence[NewEvent]) -> list[StoredEvent]:
        async with self._db.session() as session:
            return await channel_log.append(session, items)

    async def close(self) -> None:
        return None


def open_appender(db: Database) -> Appender:
    """The appender for ``db``'s dialect (see the module doc); connects lazily."""
    if db.engine.dialect.name == "postgresql":
        return PgAppender(db.url)
    if db.is_sqlite and not SqliteAppender.in_memory(db.url):
        return SqliteAppender(db.url)
    return OrmAppender(db)
