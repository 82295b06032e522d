"""promotions: single-use promo codes (keyed hashes only) and the campaign flag that asks for them

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("promotion_campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("single_use_codes", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "promotion_codes",
        sa.Column("code_hash", sa.String(length=80), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reserved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_promotion_codes")),
    )
    with op.batch_alter_table("promotion_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_promotion_codes_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_promotion_codes_order_id"), ["order_id"], unique=False)
    op.create_table(
        "promotion_budget_shards",
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.Column("last_taken", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "currency", "shard", name=op.f("pk_promotion_budget_shards")),
    )
    op.create_table(
        "promotion_budget_holds",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotion_budget_holds")),
    )
    with op.batch_alter_table("promotion_budget_holds", schema=None) as batch_op:
        batch_op.create_index("ix_promotion_budget_holds_campaign", ["campaign_id", "currency"], unique=False)
        batch_op.create_index(batch_op.f("ix_promotion_budget_holds_order_id"), ["order_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("promotion_budget_holds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_promotion_budget_holds_order_id"))
        batch_op.drop_index("ix_promotion_budget_holds_campaign")
    op.drop_table("promotion_budget_holds")
    op.drop_table("promotion_budget_shards")
    with op.batch_alter_table("promotion_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_promotion_codes_order_id"))
        batch_op.drop_index(batch_op.f("ix_promotion_codes_campaign_id"))
    op.drop_table("promotion_codes")
    with op.batch_alter_table("promotion_campaigns", schema=None) as batch_op:
        batch_op.drop_column("single_use_codes")
