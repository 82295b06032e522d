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
    op.create_table(
        "promotion_slots",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("card_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotion_slots")),
        sa.UniqueConstraint(
            "campaign_id", "scope", "slot", name=op.f("uq_promotion_slots_campaign_id_scope_slot")
        ),
    )
    with op.batch_alter_table("promotion_slots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_promotion_slots_order_id"), ["order_id"], unique=False)
    op.create_table(
        "quotes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("payment_method", sa.String(length=20), nullable=True),
        sa.Column("promo_code", sa.String(length=64), nullable=True),
        sa.Column("list_price_amount", sa.BigInteger(), nullable=False),
        sa.Column("charge_amount", sa.BigInteger(), nullable=False),
        sa.Column("promotions", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_quotes_card_id_cards")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quotes")),
    )
    with op.batch_alter_table("quotes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quotes_card_id"), ["card_id"], unique=False)
    with op.batch_alter_table("topup_orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("list_price_amount", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("promotions", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("topup_orders", schema=None) as batch_op:
        batch_op.drop_column("promotions")
        batch_op.drop_column("list_price_amount")
    with op.batch_alter_table("quotes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quotes_card_id"))
    op.drop_table("quotes")
    with op.batch_alter_table("promotion_slots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_promotion_slots_order_id"))
    op.drop_table("promotion_slots")
    op.drop_table("promotion_campaigns")
