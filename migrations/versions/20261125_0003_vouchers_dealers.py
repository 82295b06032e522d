"""vouchers and dealers: recharge cards (PIN vouchers), their batches, range operations and PIN attempts;
dealers with a prepaid float, their till sales and the POS request nonces; cards flagged for review

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "card_review_flags",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_card_review_flags_card_id_cards")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_review_flags")),
    )
    with op.batch_alter_table("card_review_flags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_card_review_flags_card_id"), ["card_id"], unique=False)

    op.create_table(
        "voucher_attempts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("client_key", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("voucher_id", sa.String(length=20), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_voucher_attempts_card_id_cards")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_attempts")),
    )
    with op.batch_alter_table("voucher_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_voucher_attempts_card_id_at", ["card_id", "at"], unique=False)
        batch_op.create_index("ix_voucher_attempts_client_key_at", ["client_key", "at"], unique=False)

    op.create_table(
        "dealers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("commission_bps", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("float_account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("api_key_id", sa.String(length=40), nullable=False),
        sa.Column("api_key_salt", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["float_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_dealers_float_account_id_ledger_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dealers")),
        sa.UniqueConstraint("api_key_id", name=op.f("uq_dealers_api_key_id")),
        sa.UniqueConstraint("float_account_id", name=op.f("uq_dealers_float_account_id")),
        sa.UniqueConstraint("public_id", name=op.f("uq_dealers_public_id")),
    )
    op.create_table(
        "dealer_sales",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("dealer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=True),
        sa.Column("voucher_id", sa.String(length=20), nullable=True),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("face_amount", sa.BigInteger(), nullable=False),
        sa.Column("commission_amount", sa.BigInteger(), nullable=False),
        sa.Column("net_amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_dealer_sales_card_id_cards")),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["dealers.id"], name=op.f("fk_dealer_sales_dealer_id_dealers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dealer_sales")),
        sa.UniqueConstraint("dealer_id", "external_id", name=op.f("uq_dealer_sales_dealer_id_external_id")),
    )
    with op.batch_alter_table("dealer_sales", schema=None) as batch_op:
        batch_op.create_index(
            "ix_dealer_sales_dealer_id_created_at", ["dealer_id", "created_at"], unique=False
        )

    op.create_table(
        "pos_nonces",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("dealer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dealer_id"], ["dealers.id"], name=op.f("fk_pos_nonces_dealer_id_dealers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pos_nonces")),
        sa.UniqueConstraint("dealer_id", "nonce", name=op.f("uq_pos_nonces_dealer_id_nonce")),
    )
    with op.batch_alter_table("pos_nonces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pos_nonces_seen_at"), ["seen_at"], unique=False)

    op.create_table(
        "voucher_batches",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("face_value_amount", sa.BigInteger(), nullable=False),
        sa.Column("face_value_currency", sa.String(length=3), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("product_kind", sa.String(length=16), nullable=False),
        sa.Column("product_name_en", sa.String(length=200), nullable=False),
        sa.Column("product_name_zh", sa.String(length=200), nullable=False),
        sa.Column("grants", sa.JSON(), nullable=False),
        sa.Column("validity_days", sa.Integer(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("generated_count", sa.Integer(), nullable=False),
        sa.Column("serial_first", sa.String(length=20), nullable=False),
        sa.Column("serial_last", sa.String(length=20), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dealer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expiry_swept_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["dealers.id"], name=op.f("fk_voucher_batches_dealer_id_dealers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_batches")),
        sa.UniqueConstraint("name", name=op.f("uq_voucher_batches_name")),
    )
    with op.batch_alter_table("voucher_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_voucher_batches_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "voucher_operations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("serial_first", sa.String(length=20), nullable=False),
        sa.Column("serial_last", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("changed_count", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["voucher_batches.id"], name=op.f("fk_voucher_operations_batch_id_voucher_batches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_operations")),
    )
    with op.batch_alter_table("voucher_operations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_voucher_operations_batch_id"), ["batch_id"], unique=False)

    op.create_table(
        "vouchers",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("pin_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sold_by_dealer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("redeemed_card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("order_id", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["voucher_batches.id"], name=op.f("fk_vouchers_batch_id_voucher_batches")
        ),
        sa.ForeignKeyConstraint(
            ["redeemed_card_id"], ["cards.id"], name=op.f("fk_vouchers_redeemed_card_id_cards")
        ),
        sa.ForeignKeyConstraint(
            ["sold_by_dealer_id"], ["dealers.id"], name=op.f("fk_vouchers_sold_by_dealer_id_dealers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vouchers")),
        sa.UniqueConstraint("pin_hash", name=op.f("uq_vouchers_pin_hash")),
    )


def downgrade() -> None:
    op.drop_table("vouchers")
    with op.batch_alter_table("voucher_operations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voucher_operations_batch_id"))

    op.drop_table("voucher_operations")
    with op.batch_alter_table("voucher_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voucher_batches_expires_at"))

    op.drop_table("voucher_batches")
    with op.batch_alter_table("pos_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pos_nonces_seen_at"))

    op.drop_table("pos_nonces")
    with op.batch_alter_table("dealer_sales", schema=None) as batch_op:
        batch_op.drop_index("ix_dealer_sales_dealer_id_created_at")

    op.drop_table("dealer_sales")
    op.drop_table("dealers")
    with op.batch_alter_table("voucher_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_voucher_attempts_client_key_at")
        batch_op.drop_index("ix_voucher_attempts_card_id_at")

    op.drop_table("voucher_attempts")
    with op.batch_alter_table("card_review_flags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_card_review_flags_card_id"))

    op.drop_table("card_review_flags")
