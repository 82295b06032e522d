"""card_orders: a new travel card bought online (reserved profile, provisional card, its top-up order)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "card_orders",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("topup_order_id", sa.String(length=32), nullable=False),
        sa.Column("card_id", ID, nullable=False),
        sa.Column("profile_id", ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("client_ip", sa.String(length=45), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fulfilled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_card_orders_card_id_cards")),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["esim_profiles.id"], name=op.f("fk_card_orders_profile_id_esim_profiles")
        ),
        sa.ForeignKeyConstraint(
            ["topup_order_id"], ["topup_orders.id"], name=op.f("fk_card_orders_topup_order_id_topup_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_orders")),
        sa.UniqueConstraint("card_id", name=op.f("uq_card_orders_card_id")),
        sa.UniqueConstraint("topup_order_id", name=op.f("uq_card_orders_topup_order_id")),
    )
    with op.batch_alter_table("card_orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_card_orders_profile_id"), ["profile_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_card_orders_status"), ["status"], unique=False)


def downgrade() -> None:
    op.drop_table("card_orders")
