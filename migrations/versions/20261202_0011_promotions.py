"""promotions: holiday campaigns loaded from the operator's campaign file; what an order was given

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "promotion_campaigns",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("benefit", sa.JSON(), nullable=False),
        sa.Column("products", sa.JSON(), nullable=True),
        sa.Column("product_kinds", sa.JSON(), nullable=True),
        sa.Column("channels", sa.JSON(), nullable=True),
        sa.Column("payment_methods", sa.JSON(), nullable=True),
        sa.Column("currencies", sa.JSON(), nullable=True),
        sa.Column("first_recharge_only", sa.Boolean(), nullable=False),
        sa.Column("min_price", sa.JSON(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("max_redemptions", sa.BigInteger(), nullable=True),
        sa.Column("max_per_card", sa.Integer(), nullable=True),
        sa.Column("budget", sa.JSON(), nullable=False),
        sa.Column("stackable", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("file_status", sa.String(length=16), nullable=False),
        sa.Column("office_status", sa.String(length=16), nullable=False),
        sa.Column("office_status_by", sa.String(length=120), nullable=True),
        sa.Column("office_status_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotion_campaigns")),
    )
    with op.batch_alter_table("topup_orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("list_price_amount", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("promotions", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("topup_orders", schema=None) as batch_op:
        batch_op.drop_column("promotions")
        batch_op.drop_column("list_price_amount")
    op.drop_table("promotion_campaigns")
