"""Links a person asks for to replace a forgotten password (invitations.purpose)

"Forgot password?" mails the account's address a single-use, expiring link
(storage/repo/own_password.py). Unlike an invitation or an admin's reset link, it
replaces a password the account has, so it is marked: purpose "reset".

Revision ID: 0010_password_reset_links
Revises: 0009_invitation_offers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_password_reset_links"
down_revision = "0009_invitation_offers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purpose", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_column("purpose")
