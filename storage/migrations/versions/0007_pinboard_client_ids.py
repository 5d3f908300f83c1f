"""pinboard: client ids on notes and replies, unique per author

A note or reply created over HTTP may carry the client's id for it; a retry
after a lost answer (the web client's offline outbox) then finds the row it
stored the first time instead of creating a second one. NULLs are distinct in
a unique constraint on both backends, so rows without a client id are unaffected.

Revision ID: 0007_pinboard_client_ids
Revises: 0006_mail
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_pinboard_client_ids"
down_revision = "0006_mail"
branch_labels = None
depends_on = None

TABLES = ("notes", "note_replies")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("client_id", sa.String(length=64), nullable=True))
            batch_op.create_unique_constraint(
                batch_op.f(f"uq_{table}_author_id_client_id"), ["author_id", "client_id"]
            )


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"uq_{table}_author_id_client_id"), type_="unique")
            batch_op.drop_column("client_id")
