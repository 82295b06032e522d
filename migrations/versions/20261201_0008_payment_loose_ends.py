"""payment loose ends: disputes, single-use signed links, top-up hold, final sweep, held notifications

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "disputes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("provider_reference", sa.String(length=128), nullable=False),
        sa.Column("payment_id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hold_released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hold_released_by", sa.String(length=64), nullable=True),
        sa.Column("decision_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_disputes_amount_positive")),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_disputes_card_id_cards")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["topup_orders.id"], name=op.f("fk_disputes_order_id_topup_orders")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_disputes_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
        sa.UniqueConstraint("provider_reference", name=op.f("uq_disputes_provider_reference")),
    )
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disputes_card_id"), ["card_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_disputes_payment_id"), ["payment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_disputes_status"), ["status"], unique=False)

    op.create_table(
        "signed_links",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signed_links")),
    )
    with op.batch_alter_table("signed_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signed_links_subject"), ["subject"], unique=False)

    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.add_column(sa.Column("topup_held_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checkout_sent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("final_sweep_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_payments_final_sweep_at"), ["final_sweep_at"], unique=False)

    with op.batch_alter_table("inbox_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("held_reason", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("redriven_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbox_events", schema=None) as batch_op:
        batch_op.drop_column("redriven_at")
        batch_op.drop_column("held_reason")

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_final_sweep_at"))
        batch_op.drop_column("final_sweep_at")
        batch_op.drop_column("checkout_sent_at")

    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.drop_column("topup_held_at")

    with op.batch_alter_table("signed_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signed_links_subject"))
    op.drop_table("signed_links")

    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disputes_status"))
        batch_op.drop_index(batch_op.f("ix_disputes_payment_id"))
        batch_op.drop_index(batch_op.f("ix_disputes_card_id"))
    op.drop_table("disputes")
