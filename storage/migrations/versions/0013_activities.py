"""activities: polls (quizzes) and word clouds per event or learning group, and answers

One answer per person and activity (a unique constraint); answers go with the account.
See storage/models/activities.py.

Revision ID: 0013_activities
Revises: 0012_room_controls
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision = "0013_activities"
down_revision = "0012_room_controls"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activities",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("group_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("correct", sa.JSON(), nullable=False),
        sa.Column("multiple", sa.Boolean(), nullable=False),
        sa.Column("changeable", sa.Boolean(), nullable=False),
        sa.Column("time_limit_secs", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("results_shown", sa.Boolean(), nullable=False),
        sa.Column("hidden_terms", sa.JSON(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("opened_at", storage.models.base.UTCDateTime(), nullable=True),
        sa.Column("closes_at", storage.models.base.UTCDateTime(), nullable=True),
        sa.Column(
            "created_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", storage.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", storage.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_activities_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_activities_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["learning_groups.id"],
            name=op.f("fk_activities_group_id_learning_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activities")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activities_event_id"), ["event_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_activities_group_id"), ["group_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_activities_state"), ["state"], unique=False)

    op.create_table(
        "activity_answers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "activity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("text", sa.String(length=120), nullable=False),
        sa.Column("term", sa.String(length=60), nullable=False),
        sa.Column("created_at", storage.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", storage.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activities.id"],
            name=op.f("fk_activity_answers_activity_id_activities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_activity_answers_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_answers")),
        sa.UniqueConstraint(
            "activity_id", "user_id", name=op.f("uq_activity_answers_activity_id_user_id")
        ),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("activity_answers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_activity_answers_activity_id"), ["activity_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_activity_answers_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("activity_answers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activity_answers_user_id"))
        batch_op.drop_index(batch_op.f("ix_activity_answers_activity_id"))

    op.drop_table("activity_answers")
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activities_state"))
        batch_op.drop_index(batch_op.f("ix_activities_group_id"))
        batch_op.drop_index(batch_op.f("ix_activities_event_id"))

    op.drop_table("activities")
