"""qa: questions with upvotes per event or learning group, and anonymous board notes (issue 17)

One vote per person and question (the primary key). See storage/models/qa.py.
Boards and notes get ``anonymous`` (docs/pinboard.md, "Anonymous notes").

Revision ID: 0014_qa
Revises: 0013_activities
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision = "0014_qa"
down_revision = "0013_activities"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "question_boards",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("group_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("channel", sa.String(length=120), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("premoderation", sa.Boolean(), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("vote_version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", storage.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_question_boards_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["learning_groups.id"],
            name=op.f("fk_question_boards_group_id_learning_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_question_boards")),
        sa.UniqueConstraint("channel", name=op.f("uq_question_boards_channel")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("question_boards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_question_boards_event_id"), ["event_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_question_boards_group_id"), ["group_id"], unique=False)

    op.create_table(
        "questions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("board_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("author_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column(
            "merged_into", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.models.base.UTCDateTime(), nullable=False),
        sa.Column("erased", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_questions_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["board_id"],
            ["question_boards.id"],
            name=op.f("fk_questions_board_id_question_boards"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["merged_into"],
            ["questions.id"],
            name=op.f("fk_questions_merged_into_questions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questions")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("questions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_questions_author_id"), ["author_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_questions_board_id"), ["board_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_questions_state"), ["state"], unique=False)

    op.create_table(
        "question_votes",
        sa.Column(
            "question_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", storage.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["questions.id"],
            name=op.f("fk_question_votes_question_id_questions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_question_votes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("question_id", "user_id", name=op.f("pk_question_votes")),
    )
    with op.batch_alter_table("question_votes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_question_votes_user_id"), ["user_id"], unique=False)

    # A plain ADD COLUMN on both backends: a batch "move and copy" on SQLite would drop
    # the tables' AUTOINCREMENT (migration 0008, tests/test_sqlite_ids.py).
    for table in ("boards", "notes"):
        op.add_column(
            table, sa.Column("anonymous", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    for table in ("notes", "boards"):
        op.drop_column(table, "anonymous")  # SQLite 3.35+: a plain DROP COLUMN
    with op.batch_alter_table("question_votes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_question_votes_user_id"))

    op.drop_table("question_votes")
    with op.batch_alter_table("questions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_questions_state"))
        batch_op.drop_index(batch_op.f("ix_questions_board_id"))
        batch_op.drop_index(batch_op.f("ix_questions_author_id"))

    op.drop_table("questions")
    with op.batch_alter_table("question_boards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_question_boards_group_id"))
        batch_op.drop_index(batch_op.f("ix_question_boards_event_id"))

    op.drop_table("question_boards")
