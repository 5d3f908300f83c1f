"""SQLite: ids are never handed out twice (AUTOINCREMENT on every id-keyed table)

A SQLite ``INTEGER PRIMARY KEY`` without AUTOINCREMENT takes max(id) + 1, so the id
of a deleted newest row comes back: a moderator deletes the newest photo, the next
upload gets its id and its URL, and browsers that cached the deleted photo for an
hour show it in the new note's place; a retried DELETE of a note names the next
person's note. PostgreSQL's identity sequences never reuse an id: nothing to do
there.

SQLite cannot add AUTOINCREMENT to a table, so each table is rebuilt the way
https://sqlite.org/lang_altertable.html#otheralter describes: create the new
table, copy every row with its id, drop the old one, rename, recreate its indexes
and triggers (the FTS triggers of channel_events, the append-only triggers of
audit_log). Foreign keys are off while migrating (storage/migrations/env.py), so
dropping a parent table deletes nothing else; the rename runs in legacy mode, so
SQLite does not re-check the message_text view while channel_events is away.
The copy sets each table's sqlite_sequence to its largest id. (Ids reused before
this migration stay as they are.)

Revision ID: 0008_sqlite_autoincrement
Revises: 0007_pinboard_client_ids
"""

from __future__ import annotations

import re

from alembic import op
from sqlalchemy.engine import Connection

revision = "0008_sqlite_autoincrement"
down_revision = "0007_pinboard_client_ids"
branch_labels = None
depends_on = None

# Every table keyed by a single integer id at 0007, parents before children.
TABLES = (
    "users", "login_failures", "events", "learning_groups", "activity_log", "audit_log",
    "channel_events", "profile_photos", "boards", "board_sections", "attachments", "notes",
    "note_revisions", "note_replies", "event_changes", "mail_campaigns", "mail_deliveries",
)

_PK = re.compile(r",\s*CONSTRAINT (\w+) PRIMARY KEY \(id\)")
_ID = re.compile(r"^(\s*)id INTEGER NOT NULL,", re.MULTILINE)


def autoincrement_sql(table: str, sql: str) -> str:
    """The CREATE TABLE of ``_new_<table>``: ``sql`` with its id as AUTOINCREMENT key."""
    pk, col = _PK.search(sql), _ID.search(sql)
    if pk is None or col is None:
        raise RuntimeError(f"{table}: unexpected definition, not rebuilt: {sql!r}")
    sql = sql[: pk.start()] + sql[pk.end():]
    sql = _ID.sub(
        rf"\1id INTEGER NOT NULL CONSTRAINT {pk.group(1)} PRIMARY KEY AUTOINCREMENT,", sql, count=1
    )
    # A table an earlier batch migration rebuilt has its name quoted by SQLite's rename.
    head = re.match(rf'CREATE TABLE (?:"{table}"|{table}) \(', sql)
    if head is None:
        raise RuntimeError(f"{table}: unexpected definition, not rebuilt: {sql!r}")
    return f'CREATE TABLE "_new_{table}" (' + sql[head.end():]


def _rebuild(conn: Connection, table: str) -> None:
    sql = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    if "AUTOINCREMENT" in sql:
        return
    dependents = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger')"
        " AND sql IS NOT NULL ORDER BY type, name",
        (table,),
    ).scalars().all()
    columns = ", ".join(
        f'"{row[1]}"' for row in conn.exec_driver_sql(f'PRAGMA table_info("{table}")')
    )
    conn.exec_driver_sql(autoincrement_sql(table, sql))
    # table is one of upgrade()'s fixed names and columns come from its PRAGMA: no input.
    conn.exec_driver_sql(
        f'INSERT INTO "_new_{table}" ({columns}) SELECT {columns} FROM "{table}"'  # noqa: S608
    )
    conn.exec_driver_sql(f'DROP TABLE "{table}"')
    conn.exec_driver_sql(f'ALTER TABLE "_new_{table}" RENAME TO "{table}"')
    for statement in dependents:  # indexes (but the automatic ones) and triggers
        conn.exec_driver_sql(statement)


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    if conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one():
        raise RuntimeError("foreign keys must be off while tables are rebuilt (env.py)")
    conn.exec_driver_sql("PRAGMA legacy_alter_table=ON")
    try:
        for table in TABLES:
            _rebuild(conn, table)
    finally:
        conn.exec_driver_sql("PRAGMA legacy_alter_table=OFF")


def downgrade() -> None:
    # AUTOINCREMENT is harmless to the schema of 0007: the tables stay as they are.
    pass
