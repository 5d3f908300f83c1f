"""privacy: the full-text index also covers pinboard notes and replies

Board events carry a note's text at ``body.note.text`` and a reply's at
``body.reply.text``; the index now takes the first of ``text``, ``note.text``
and ``reply.text``. The pinboard's redaction of those events (note taken
offline or deleted, reply deleted) updates the body, so the index follows.

Revision ID: 0005_privacy_notes
Revises: 0004_pinboard
"""

from __future__ import annotations

from alembic import op

revision = "0005_privacy_notes"
down_revision = "0004_pinboard"
branch_labels = None
depends_on = None

SQLITE_TEXT = (
    "coalesce(json_extract({b}, '$.text'), json_extract({b}, '$.note.text'), "
    "json_extract({b}, '$.reply.text'))"
)
PG_TEXT = "coalesce(body->>'text', body->'note'->>'text', body->'reply'->>'text', '')"


def _sqlite(expr: str) -> list[str]:
    new, old = expr.format(b="new.body"), expr.format(b="old.body")
    return [
        "DROP TRIGGER IF EXISTS channel_events_fts_ai",
        "DROP TRIGGER IF EXISTS channel_events_fts_ad",
        "DROP TRIGGER IF EXISTS channel_events_fts_au",
        "DROP TABLE IF EXISTS message_fts",
        "DROP VIEW IF EXISTS message_text",
        # expr is SQLITE_TEXT above, a constant of this migration: no input reaches the SQL.
        f"CREATE VIEW message_text AS SELECT id, {expr.format(b='body')} AS text "  # noqa: S608
        "FROM channel_events",
        ("CREATE VIRTUAL TABLE message_fts USING fts5("
        "text, content='message_text', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 0')"),
        f"""CREATE TRIGGER channel_events_fts_ai AFTER INSERT ON channel_events BEGIN
            INSERT INTO message_fts(rowid, text) SELECT new.id, {new} WHERE {new} IS NOT NULL;
        END""",
        f"""CREATE TRIGGER channel_events_fts_ad AFTER DELETE ON channel_events BEGIN
            INSERT INTO message_fts(message_fts, rowid, text)
            SELECT 'delete', old.id, {old} WHERE {old} IS NOT NULL;
        END""",
        f"""CREATE TRIGGER channel_events_fts_au AFTER UPDATE OF body ON channel_events BEGIN
            INSERT INTO message_fts(message_fts, rowid, text)
            SELECT 'delete', old.id, {old} WHERE {old} IS NOT NULL;
            INSERT INTO message_fts(rowid, text) SELECT new.id, {new} WHERE {new} IS NOT NULL;
        END""",
        "INSERT INTO message_fts(message_fts) VALUES ('rebuild')",
    ]


def _pg(expr: str) -> list[str]:
    return [
        "DROP INDEX IF EXISTS ix_channel_events_search_tsv",
        "ALTER TABLE channel_events DROP COLUMN IF EXISTS search_tsv",
        ("ALTER TABLE channel_events ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS "
        f"(to_tsvector('simple'::regconfig, {expr})) STORED"),
        "CREATE INDEX ix_channel_events_search_tsv ON channel_events USING gin (search_tsv)",
    ]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in _sqlite(SQLITE_TEXT) if sqlite else _pg(PG_TEXT):
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    statements = (
        _sqlite("json_extract({b}, '$.text')")
        if sqlite
        else _pg("coalesce(body->>'text', '')")
    )
    for statement in statements:
        op.execute(statement)
