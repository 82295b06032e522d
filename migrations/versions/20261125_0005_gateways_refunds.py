"""gateways and refunds: what remote gateways are told and answer, and the refunds table

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.alter_column(
            "checkout_url", existing_type=sa.String(length=500), type_=sa.Text(), existing_nullable=True
        )
        batch_op.add_column(sa.Column("description", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("checkout_flow", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("client_ip", sa.String(length=45), nullable=True))
        batch_op.add_column(sa.Column("qr_code", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("provider_transaction_id", sa.String(length=128), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_payments_provider_transaction_id"), ["provider_transaction_id"], unique=False
        )

    op.create_table(
        "refunds",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("payment_id", sa.String(length=32), nullable=False),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("reversals", sa.JSON(), nullable=False),
        sa.Column("staff_ref", sa.String(length=64), nullable=True),
        sa.Column("decision_reason", sa.String(length=500), nullable=True),
        sa.Column("provider_reference", sa.String(length=128), nullable=True),
        sa.Column("failure_reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_refunds_amount_positive")),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_refunds_card_id_cards")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["topup_orders.id"], name=op.f("fk_refunds_order_id_topup_orders")
        ),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_refunds_payment_id_payments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refunds_card_id"), ["card_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refunds_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refunds_payment_id"), ["payment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refunds_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refunds_status"))
        batch_op.drop_index(batch_op.f("ix_refunds_payment_id"))
        batch_op.drop_index(batch_op.f("ix_refunds_order_id"))
        batch_op.drop_index(batch_op.f("ix_refunds_card_id"))
    op.drop_table("refunds")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_provider_transaction_id"))
        batch_op.drop_column("provider_transaction_id")
        batch_op.drop_column("qr_code")
        batch_op.drop_column("client_ip")
        batch_op.drop_column("checkout_flow")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("description")
        batch_op.alter_column(
            "checkout_url", existing_type=sa.Text(), type_=sa.String(length=500), existing_nullable=True
        )
