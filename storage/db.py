"""Database engine and sessions, for SQLite (embedded) and PostgreSQL.

SQLite runs with WAL (readers never block the writer), foreign keys on and a
busy timeout so a second connection waits for the lock instead of failing.
Every SQLite connection has ``secure_delete`` on: deleted rows, freed cells and
freed pages are overwritten with zeros, so an erased person's words do not
linger in the file's free space; after an erasure ``Database.checkpoint`` moves
the write-ahead log into the file and truncates it (docs/privacy.md, "Files
and backups").
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.account_changes import LISTENERS_KEY, AccountListener, TrackedSession

SQLITE_BUSY_TIMEOUT_MS = 10_000
# A checkpoint that must wait for readers blocks new writers meanwhile: wait briefly,
# let the writers through, try again.
CHECKPOINT_WAIT_MS = 500
CHECKPOINT_ATTEMPTS = 6

log = logging.getLogger("classhub.db")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # WAL + NORMAL is durable across application crashes; only an OS crash or
    # power loss can roll back the last transactions.
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Zeros over deleted content (cells and freelist pages), not just a free mark.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def checkpoint_sqlite(path: str) -> bool:
    """``PRAGMA wal_checkpoint(TRUNCATE)`` on the database at ``path``: every page of the
    write-ahead log is written into the database file and the log is cut to zero bytes,
    so the old page images in it (deleted rows included) are gone. Blocking; True when
    it completed (a long-running reader can keep it from completing: retried a few times)."""
    conn = sqlite3.connect(path, timeout=CHECKPOINT_WAIT_MS / 1000, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout={CHECKPOINT_WAIT_MS}")
        for attempt in range(CHECKPOINT_ATTEMPTS):
            try:
                busy, _frames, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.OperationalError:  # locked beyond the wait
                busy = 1
            if not busy:
                return True
            time.sleep(0.1 * (attempt + 1))
        return False
    finally:
        conn.close()


def _create_private(path: Path) -> None:
    """Create the database file 0600 (whatever the umask) if it is not there yet: SQLite
    gives its -wal and -shm files the database file's mode. The directory is not created:
    Settings refuses a DATABASE_URL whose directory does not exist."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except FileNotFoundError:  # no directory: SQLite's own error says so on connect
        return
    os.close(fd)


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:":
            _create_private(Path(path))
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


class Database:
    """The engine and session factory of one process; opened in the app lifespan."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        # Told, inside each commit, which accounts and sessions it changed (account_changes.py).
        self.account_listeners: list[AccountListener] = []
        self.sessionmaker = async_sessionmaker(
            self.engine,
            expire_on_commit=False,
            sync_session_class=TrackedSession,
            info={LISTENERS_KEY: self.account_listeners},
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    async def checkpoint(self) -> bool:
        """After an erasure: on SQLite, fold the write-ahead log into the database file and
        truncate it (``checkpoint_sqlite``); nothing to do on PostgreSQL. True when done."""
        if not self.is_sqlite:
            return True
        path = make_url(self.url).database
        if not path or path == ":memory:":
            return True
        done = await asyncio.to_thread(checkpoint_sqlite, path)
        if not done:
            log.warning(
                "the write-ahead log could not be truncated now (a long read); "
                "the next pass does it"
            )
        return done

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on error."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A bare connection for a hot read that needs a few columns and no ORM session
        (rolled back on exit unless the caller commits)."""
        async with self.engine.connect() as conn:
            yield conn

    async def close(self) -> None:
        await self.engine.dispose()


async def check_reachable(url: str, timeout_secs: float) -> None:
    """One connection to the database of ``url``, made and closed; any failure is a
    ``ConfigError`` naming DATABASE_URL with the driver's own first line (password
    hidden), so a command can say it in one line instead of a traceback."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from storage.errors import ConfigError

    shown = make_url(url).render_as_string(hide_password=True)

    async def ping() -> None:
        engine = make_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    try:
        await asyncio.wait_for(ping(), timeout_secs)
    except TimeoutError as exc:
        reason = f"no answer within {timeout_secs:g} s"
        raise ConfigError("DATABASE_URL", f"cannot use {shown}: {reason}") from exc
    except (OSError, DBAPIError) as exc:
        inner = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        words = str(inner).strip().splitlines()
        reason = words[0] if words else type(inner).__name__
        raise ConfigError("DATABASE_URL", f"cannot use {shown}: {reason}") from exc
