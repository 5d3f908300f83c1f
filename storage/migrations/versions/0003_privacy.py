"""privacy: per-kind retention, profile photos, full-text index, append-only audit log

The full-text index and the audit-log guard are dialect-specific:

* SQLite: ``message_fts`` is an FTS5 table whose external content is the view
  ``message_text`` (the ``text`` of each channel event's JSON body); triggers on
  ``channel_events`` keep it in sync, so every writer (hub, pinboard, erasure,
  retention) updates the index without knowing about it.
* PostgreSQL: a generated ``tsvector`` column ``search_tsv`` on channel_events
  with a GIN index; the database keeps it in sync itself.
* Both: triggers that refuse UPDATE and DELETE on ``audit_log`` (and TRUNCATE
  on PostgreSQL), so not even a bug or a stray SQL session can rewrite history.

Revision ID: 0003_privacy
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision = "0003_privacy"
down_revision = "0002"
branch_labels = None
depends_on = None

SQLITE_UP = [
    ("CREATE VIEW message_text AS "
    "SELECT id, json_extract(body, '$.text') AS text FROM channel_events"),
    ("CREATE VIRTUAL TABLE message_fts USING fts5("
    "text, content='message_text', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 0')"),
    # Only text-carrying events enter the index; the 'delete' command must be
    # given exactly the values that were indexed, which the same expression yields.
    """CREATE TRIGGER channel_events_fts_ai AFTER INSERT ON channel_events BEGIN
        INSERT INTO message_fts(rowid, text)
        SELECT new.id, json_extract(new.body, '$.text')
        WHERE json_extract(new.body, '$.text') IS NOT NULL;
    END""",
    """CREATE TRIGGER channel_events_fts_ad AFTER DELETE ON channel_events BEGIN
        INSERT INTO message_fts(message_fts, rowid, text)
        SELECT 'delete', old.id, json_extract(old.body, '$.text')
        WHERE json_extract(old.body, '$.text') IS NOT NULL;
    END""",
    """CREATE TRIGGER channel_events_fts_au AFTER UPDATE OF body ON channel_events BEGIN
        INSERT INTO message_fts(message_fts, rowid, text)
        SELECT 'delete', old.id, json_extract(old.body, '$.text')
        WHERE json_extract(old.body, '$.text') IS NOT NULL;
        INSERT INTO message_fts(rowid, text)
        SELECT new.id, json_extract(new.body, '$.text')
        WHERE json_extract(new.body, '$.text') IS NOT NULL;
    END""",
    "INSERT INTO message_fts(message_fts) VALUES ('rebuild')",
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN
        SELECT RAISE(ABORT, 'audit_log is append-only');
    END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN
        SELECT RAISE(ABORT, 'audit_log is append-only');
    END""",
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS audit_log_no_delete",
    "DROP TRIGGER IF EXISTS audit_log_no_update",
    "DROP TRIGGER IF EXISTS channel_events_fts_au",
    "DROP TRIGGER IF EXISTS channel_events_fts_ad",
    "DROP TRIGGER IF EXISTS channel_events_fts_ai",
    "DROP TABLE IF EXISTS message_fts",
    "DROP VIEW IF EXISTS message_text",
]

PG_UP = [
    ("ALTER TABLE channel_events ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS "
    "(to_tsvector('simple'::regconfig, coalesce(body->>'text', ''))) STORED"),
    "CREATE INDEX ix_channel_events_search_tsv ON channel_events USING gin (search_tsv)",
    """CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
    END $$""",
    ("CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()"),
    ("CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()"),
]

PG_DOWN = [
    "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
    "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
    "DROP FUNCTION IF EXISTS audit_log_refuse_change()",
    "DROP INDEX IF EXISTS ix_channel_events_search_tsv",
    "ALTER TABLE channel_events DROP COLUMN IF EXISTS search_tsv",
]


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chat_retention_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("notes_retention_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("photos_retention_days", sa.Integer(), nullable=True))

    op.create_table(
        "profile_photos",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", storage.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_profile_photos_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_photos")),
        sa.UniqueConstraint("user_id", name=op.f("uq_profile_photos_user_id")),
    )

    statements = SQLITE_UP if op.get_bind().dialect.name == "sqlite" else PG_UP
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    statements = SQLITE_DOWN if op.get_bind().dialect.name == "sqlite" else PG_DOWN
    for statement in statements:
        op.execute(statement)
    op.drop_table("profile_photos")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("photos_retention_days")
        batch_op.drop_column("notes_retention_days")
        batch_op.drop_column("chat_retention_days")
