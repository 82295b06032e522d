"""Charging for the network (issue 15): network elements, charging sessions, their requests and grant slices,
ledger reservations (two-phase transfers; `ledger_accounts.pending` holds what they reserve), rating zones
and rating groups from the catalogue file, and an index on the eSIM profile's IMSI (the subscriber lookup).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "network_elements",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_hash", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_elements")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_network_elements_key_hash")),
        sa.UniqueConstraint("name", name=op.f("uq_network_elements_name")),
        sa.UniqueConstraint("public_id", name=op.f("uq_network_elements_public_id")),
    )
    op.create_table(
        "rating_groups",
        sa.Column("rating_group", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("rating_group", name=op.f("pk_rating_groups")),
    )
    op.create_table(
        "rating_zones",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("countries", sa.JSON(), nullable=False),
        sa.Column("prices", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_rating_zones")),
    )
    op.create_table(
        "charging_sessions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ref", sa.String(length=40), nullable=False),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("network_element_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("mcc", sa.String(length=3), nullable=True),
        sa.Column("mnc", sa.String(length=3), nullable=True),
        sa.Column("called", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_charging_sessions_card_id_cards")),
        sa.ForeignKeyConstraint(
            ["network_element_id"],
            ["network_elements.id"],
            name=op.f("fk_charging_sessions_network_element_id_network_elements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charging_sessions")),
        sa.UniqueConstraint("ref", name=op.f("uq_charging_sessions_ref")),
    )
    with op.batch_alter_table("charging_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_charging_sessions_card_id"), ["card_id"], unique=False)

    op.create_table(
        "charging_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sequence_number", sa.BigInteger(), nullable=False),
        sa.Column("operation", sa.String(length=8), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["charging_sessions.id"],
            name=op.f("fk_charging_requests_session_id_charging_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charging_requests")),
        sa.UniqueConstraint(
            "session_id", "sequence_number", name=op.f("uq_charging_requests_session_id_sequence_number")
        ),
    )
    op.create_table(
        "ledger_reservations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("counter_account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("posted_amount", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_ledger_reservations_amount_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_reservations_account_id_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["counter_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_reservations_counter_account_id_ledger_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_reservations")),
        sa.UniqueConstraint("key", name=op.f("uq_ledger_reservations_key")),
    )
    with op.batch_alter_table("ledger_reservations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_reservations_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_reservations_reference"), ["reference"], unique=False)
        batch_op.create_index(
            "ix_ledger_reservations_status_expires_at", ["status", "expires_at"], unique=False
        )

    op.create_table(
        "charging_grants",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("rating_group", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("allowance_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("reservation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("units_granted", sa.BigInteger(), nullable=False),
        sa.Column("units_used", sa.BigInteger(), nullable=True),
        sa.Column("price_amount", sa.BigInteger(), nullable=True),
        sa.Column("price_currency", sa.String(length=3), nullable=True),
        sa.Column("charged_amount", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["allowance_id"], ["allowances.id"], name=op.f("fk_charging_grants_allowance_id_allowances")
        ),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_charging_grants_card_id_cards")),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["ledger_reservations.id"],
            name=op.f("fk_charging_grants_reservation_id_ledger_reservations"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["charging_sessions.id"],
            name=op.f("fk_charging_grants_session_id_charging_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charging_grants")),
    )
    with op.batch_alter_table("charging_grants", schema=None) as batch_op:
        batch_op.create_index(
            "ix_charging_grants_card_id_created_at", ["card_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_charging_grants_session_id_rating_group", ["session_id", "rating_group"], unique=False
        )

    with op.batch_alter_table("esim_profiles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_esim_profiles_imsi"), ["imsi"], unique=False)

    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending", sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.drop_column("pending")

    with op.batch_alter_table("esim_profiles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_esim_profiles_imsi"))

    with op.batch_alter_table("charging_grants", schema=None) as batch_op:
        batch_op.drop_index("ix_charging_grants_session_id_rating_group")
        batch_op.drop_index("ix_charging_grants_card_id_created_at")

    op.drop_table("charging_grants")
    with op.batch_alter_table("ledger_reservations", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_reservations_status_expires_at")
        batch_op.drop_index(batch_op.f("ix_ledger_reservations_reference"))
        batch_op.drop_index(batch_op.f("ix_ledger_reservations_account_id"))

    op.drop_table("ledger_reservations")
    op.drop_table("charging_requests")
    with op.batch_alter_table("charging_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_charging_sessions_card_id"))

    op.drop_table("charging_sessions")
    op.drop_table("rating_zones")
    op.drop_table("rating_groups")
    op.drop_table("network_elements")
