"""Alembic environment: runs migrations over the async engine of DATABASE_URL."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from storage.db import make_engine
from storage.models import Base

config = context.config
target_metadata = Base.metadata


# Dialect-specific search objects made by hand in 0003_privacy (the FTS5 table,
# its shadow tables and view on SQLite; the generated tsvector column on
# PostgreSQL): autogenerate must neither drop nor recreate them.
HAND_MADE = ("message_fts", "message_text", "search_tsv", "ix_channel_events_search_tsv")


def _include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    return not (name or "").startswith(HAND_MADE)


def _configure(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        compare_type=True,
        include_name=_include_name,
    )
    if not sqlite:
        with context.begin_transaction():
            context.run_migrations()
        return
    # SQLite changes a table by copying it into a new one and dropping the old
    # (Alembic's batch mode, migration 0008). With foreign keys enforced, DROP TABLE
    # first deletes every row, and ON DELETE CASCADE then empties the child tables:
    # migration 0007 rebuilt `notes` that way and took every vote and reply with it.
    # So they are off while migrating (a no-op inside a transaction: this runs before
    # the first one) and the result is checked before it commits (SQLite's own
    # twelve-step recipe, https://sqlite.org/lang_altertable.html#otheralter).
    # The connection is thrown away afterwards (the engine is disposed); the app's
    # connections turn foreign keys on as they connect (storage.db).
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    with context.begin_transaction():
        context.run_migrations()
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"migration left rows without their parent: {broken[:5]}")


async def _run_async(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
    finally:
        await engine.dispose()


def run() -> None:
    url: str = config.get_main_option("sqlalchemy.url") or ""
    asyncio.run(_run_async(url))


if context.is_offline_mode():  # pragma: no cover - we never generate SQL scripts
    raise SystemExit("offline migrations are not supported; run `classhub migrate`")
run()
