"""The card's own lifecycle (issue 15): validity per recharge, reminders, expiry, closure, MSISDN quarantine

cards.valid_until (NULL: not dated yet, a card from before this revision until its next recharge),
cards.validity_reminded (the smallest reminder already sent for the current validity),
products.validity_days_per_recharge, esim_profiles.msisdn_quarantine_until and released_msisdn.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.add_column(sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("validity_reminded", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_cards_status_valid_until"), ["status", "valid_until"], unique=False
        )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("validity_days_per_recharge", sa.Integer(), nullable=True))
    with op.batch_alter_table("esim_profiles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("msisdn_quarantine_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("released_msisdn", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("esim_profiles", schema=None) as batch_op:
        batch_op.drop_column("released_msisdn")
        batch_op.drop_column("msisdn_quarantine_until")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("validity_days_per_recharge")
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cards_status_valid_until"))
        batch_op.drop_column("validity_reminded")
        batch_op.drop_column("valid_until")
