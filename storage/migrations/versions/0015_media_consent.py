"""Trainers' media of learning sections, consent records, the blur due list, and
restriction of processing (issue 15; docs/privacy.md, "Photo and video consent")

Revision ID: 0015_media_consent
Revises: 0014_qa
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision = "0015_media_consent"
down_revision = "0014_qa"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("at", storage.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_consent_records_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_consent_records_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_records")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_records_event_id"), ["event_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_consent_records_user_id"), ["user_id"], unique=False)

    op.create_table(
        "media_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "uploader_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("poster_nonce", sa.LargeBinary(), nullable=True),
        sa.Column("poster_key_id", sa.String(length=32), nullable=True),
        sa.Column("poster_size", sa.Integer(), nullable=True),
        sa.Column("poster_content_type", sa.String(length=40), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("withdrawn_at", storage.models.base.UTCDateTime(), nullable=True),
        sa.Column("withdrawn_reason", sa.Text(), nullable=False),
        sa.Column("created_at", storage.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_media_items_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploader_id"],
            ["users.id"],
            name=op.f("fk_media_items_uploader_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_items")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("media_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_media_items_event_id"), ["event_id"], unique=False)

    op.create_table(
        "processing_restrictions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "requested_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("requested_at", storage.models.base.UTCDateTime(), nullable=False),
        sa.Column("lifted_at", storage.models.base.UTCDateTime(), nullable=True),
        sa.Column("lifted_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("lift_note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lifted_by"],
            ["users.id"],
            name=op.f("fk_processing_restrictions_lifted_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["users.id"],
            name=op.f("fk_processing_restrictions_requested_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_processing_restrictions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processing_restrictions")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("processing_restrictions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_processing_restrictions_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "media_due",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("media_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", storage.models.base.UTCDateTime(), nullable=False),
        sa.Column("due_at", storage.models.base.UTCDateTime(), nullable=False),
        sa.Column("resolved_at", storage.models.base.UTCDateTime(), nullable=True),
        sa.Column("resolution", sa.String(length=24), nullable=False),
        sa.ForeignKeyConstraint(
            ["media_id"],
            ["media_items.id"],
            name=op.f("fk_media_due_media_id_media_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_media_due_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_due")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("media_due", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_media_due_due_at"), ["due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_media_due_media_id"), ["media_id"], unique=False)

    op.create_table(
        "media_tags",
        sa.Column("media_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("portrait", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["media_id"],
            ["media_items.id"],
            name=op.f("fk_media_tags_media_id_media_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_media_tags_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("media_id", "user_id", name=op.f("pk_media_tags")),
    )
    with op.batch_alter_table("media_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_media_tags_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("media_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_media_tags_user_id"))

    op.drop_table("media_tags")
    with op.batch_alter_table("media_due", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_media_due_media_id"))
        batch_op.drop_index(batch_op.f("ix_media_due_due_at"))

    op.drop_table("media_due")
    with op.batch_alter_table("processing_restrictions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_processing_restrictions_user_id"))

    op.drop_table("processing_restrictions")
    with op.batch_alter_table("media_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_media_items_event_id"))

    op.drop_table("media_items")
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_records_user_id"))
        batch_op.drop_index(batch_op.f("ix_consent_records_event_id"))

    op.drop_table("consent_records")
