"""Invitations that offer to join an event (event_id, role), and mailed ones (mailed)

A trainer's or organiser's registration of a person they do not already teach no
longer enrols that person at once: it mails them an offer, an invitation carrying
the event and role, and following its link enrols them (docs/privacy.md,
"Invitations and enrolment").

Revision ID: 0009_invitation_offers
Revises: 0008_sqlite_autoincrement
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_invitation_offers"
down_revision = "0008_sqlite_autoincrement"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.add_column(sa.Column("role", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("mailed", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index(batch_op.f("ix_invitations_event_id"), ["event_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_invitations_event_id_events"),
            "events",
            ["event_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_invitations_event_id_events"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_invitations_event_id"))
        batch_op.drop_column("mailed")
        batch_op.drop_column("role")
        batch_op.drop_column("event_id")
