"""LTI 1.3 launches: platforms, their deployments, course links to events, used nonces

Revision ID: 0016_lti
Revises: 0015_media_consent
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision = "0016_lti"
down_revision = "0015_media_consent"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "lti_platforms",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("auth_login_url", sa.String(length=500), nullable=False),
        sa.Column("jwks_url", sa.String(length=500), nullable=False),
        sa.Column("create_accounts", sa.Boolean(), nullable=False),
        sa.Column("created_at", storage.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_platforms")),
        sa.UniqueConstraint(
            "issuer", "client_id", name=op.f("uq_lti_platforms_issuer_client_id")
        ),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "lti_deployments",
        sa.Column("platform_id", BIG_ID, nullable=False),
        sa.Column("deployment_id", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["lti_platforms.id"],
            name=op.f("fk_lti_deployments_platform_id_lti_platforms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("platform_id", "deployment_id", name=op.f("pk_lti_deployments")),
    )
    op.create_table(
        "lti_context_links",
        sa.Column("platform_id", BIG_ID, nullable=False),
        sa.Column("context_id", sa.String(length=255), nullable=False),
        sa.Column("event_id", BIG_ID, nullable=False),
        sa.Column("created_at", storage.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_lti_context_links_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["lti_platforms.id"],
            name=op.f("fk_lti_context_links_platform_id_lti_platforms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("platform_id", "context_id", name=op.f("pk_lti_context_links")),
    )
    with op.batch_alter_table("lti_context_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lti_context_links_event_id"), ["event_id"], unique=False
        )
    op.create_table(
        "lti_nonces",
        sa.Column("nonce", sa.String(length=255), nullable=False),
        sa.Column("used_at", storage.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_lti_nonces")),
    )
    with op.batch_alter_table("lti_nonces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lti_nonces_used_at"), ["used_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lti_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lti_nonces_used_at"))
    op.drop_table("lti_nonces")
    with op.batch_alter_table("lti_context_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lti_context_links_event_id"))
    op.drop_table("lti_context_links")
    op.drop_table("lti_deployments")
    op.drop_table("lti_platforms")
