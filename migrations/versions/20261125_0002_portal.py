"""portal: phone changes proven by an SMS code

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "phone_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("new_phone", sa.String(length=20), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_phone_changes_card_id_cards")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_changes")),
    )
    with op.batch_alter_table("phone_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_phone_changes_card_id"), ["card_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("phone_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phone_changes_card_id"))
    op.drop_table("phone_changes")
