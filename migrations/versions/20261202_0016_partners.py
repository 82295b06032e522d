"""partners: the partner API (partners, keys, top-ups, callbacks and their attempts, calls), sandbox
cards, and one nonce store for every signed API (request_nonces replaces pos_nonces)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "request_nonces",
        sa.Column("id", ID, nullable=False),
        sa.Column("signer", sa.String(length=32), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_nonces")),
        sa.UniqueConstraint("signer", "nonce", name=op.f("uq_request_nonces_signer_nonce")),
    )
    with op.batch_alter_table("request_nonces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_nonces_seen_at"), ["seen_at"], unique=False)

    op.create_table(
        "sandbox_cards",
        sa.Column("card_id", ID, autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_sandbox_cards_card_id_cards")),
        sa.PrimaryKeyConstraint("card_id", name=op.f("pk_sandbox_cards")),
    )
    op.create_table(
        "partners",
        sa.Column("id", ID, nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("callback_url", sa.String(length=500), nullable=False),
        sa.Column("credit_limit_amount", sa.BigInteger(), nullable=False),
        sa.Column("commission_bps", sa.Integer(), nullable=False),
        sa.Column("allowed_cidrs", sa.JSON(), nullable=False),
        sa.Column("product_ids", sa.JSON(), nullable=True),
        sa.Column("float_account_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["float_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_partners_float_account_id_ledger_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners")),
        sa.UniqueConstraint("float_account_id", name=op.f("uq_partners_float_account_id")),
        sa.UniqueConstraint("public_id", name=op.f("uq_partners_public_id")),
    )
    op.create_table(
        "partner_calls",
        sa.Column("id", ID, nullable=False),
        sa.Column("partner_id", ID, nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("called_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_partner_calls_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_calls")),
    )
    with op.batch_alter_table("partner_calls", schema=None) as batch_op:
        batch_op.create_index(
            "ix_partner_calls_partner_id_called_at", ["partner_id", "called_at"], unique=False
        )

    op.create_table(
        "partner_keys",
        sa.Column("id", ID, nullable=False),
        sa.Column("partner_id", ID, nullable=False),
        sa.Column("api_key_id", sa.String(length=40), nullable=False),
        sa.Column("api_secret_encrypted", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_partner_keys_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_keys")),
        sa.UniqueConstraint("api_key_id", name=op.f("uq_partner_keys_api_key_id")),
    )
    with op.batch_alter_table("partner_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_partner_keys_partner_id"), ["partner_id"], unique=False)

    op.create_table(
        "partner_topups",
        sa.Column("id", ID, nullable=False),
        sa.Column("partner_id", ID, nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("card_id", ID, nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("price_amount", sa.BigInteger(), nullable=False),
        sa.Column("partner_cost_amount", sa.BigInteger(), nullable=False),
        sa.Column("commission_amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_partner_topups_card_id_cards")),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_partner_topups_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_topups")),
        sa.UniqueConstraint("order_id", name=op.f("uq_partner_topups_order_id")),
        sa.UniqueConstraint(
            "partner_id", "external_id", name=op.f("uq_partner_topups_partner_id_external_id")
        ),
    )
    with op.batch_alter_table("partner_topups", schema=None) as batch_op:
        batch_op.create_index(
            "ix_partner_topups_partner_id_created_at", ["partner_id", "created_at"], unique=False
        )

    op.create_table(
        "partner_callbacks",
        sa.Column("id", ID, nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("topup_id", ID, nullable=False),
        sa.Column("partner_id", ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_partner_callbacks_partner_id_partners")
        ),
        sa.ForeignKeyConstraint(
            ["topup_id"], ["partner_topups.id"], name=op.f("fk_partner_callbacks_topup_id_partner_topups")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_callbacks")),
        sa.UniqueConstraint("public_id", name=op.f("uq_partner_callbacks_public_id")),
        sa.UniqueConstraint("topup_id", name=op.f("uq_partner_callbacks_topup_id")),
    )
    with op.batch_alter_table("partner_callbacks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_partner_callbacks_partner_id"), ["partner_id"], unique=False)

    op.create_table(
        "partner_callback_attempts",
        sa.Column("id", ID, nullable=False),
        sa.Column("callback_id", ID, nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("response_head", sa.String(length=200), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["callback_id"],
            ["partner_callbacks.id"],
            name=op.f("fk_partner_callback_attempts_callback_id_partner_callbacks"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_callback_attempts")),
    )
    with op.batch_alter_table("partner_callback_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_partner_callback_attempts_callback_id"), ["callback_id"], unique=False
        )

    # The nonces still inside the signature window keep refusing their replays.
    op.execute(
        "INSERT INTO request_nonces (signer, nonce, seen_at) SELECT d.public_id, n.nonce, n.seen_at "
        "FROM pos_nonces n JOIN dealers d ON d.id = n.dealer_id"
    )
    with op.batch_alter_table("pos_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pos_nonces_seen_at"))

    op.drop_table("pos_nonces")


def downgrade() -> None:
    op.create_table(
        "pos_nonces",
        sa.Column("id", ID, nullable=False),
        sa.Column("dealer_id", ID, nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dealer_id"], ["dealers.id"], name=op.f("fk_pos_nonces_dealer_id_dealers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pos_nonces")),
        sa.UniqueConstraint("dealer_id", "nonce", name=op.f("uq_pos_nonces_dealer_id_nonce")),
    )
    with op.batch_alter_table("pos_nonces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pos_nonces_seen_at"), ["seen_at"], unique=False)
    op.execute(
        "INSERT INTO pos_nonces (dealer_id, nonce, seen_at) SELECT d.id, n.nonce, n.seen_at "
        "FROM request_nonces n JOIN dealers d ON d.public_id = n.signer"
    )

    with op.batch_alter_table("partner_callback_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_callback_attempts_callback_id"))

    op.drop_table("partner_callback_attempts")
    with op.batch_alter_table("partner_callbacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_callbacks_partner_id"))

    op.drop_table("partner_callbacks")
    with op.batch_alter_table("partner_topups", schema=None) as batch_op:
        batch_op.drop_index("ix_partner_topups_partner_id_created_at")

    op.drop_table("partner_topups")
    with op.batch_alter_table("partner_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_keys_partner_id"))

    op.drop_table("partner_keys")
    with op.batch_alter_table("partner_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_partner_calls_partner_id_called_at")

    op.drop_table("partner_calls")
    op.drop_table("partners")
    op.drop_table("sandbox_cards")
    with op.batch_alter_table("request_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_nonces_seen_at"))

    op.drop_table("request_nonces")
