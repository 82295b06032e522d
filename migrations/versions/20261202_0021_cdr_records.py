"""Offline charging records (`roamcard cdr import`, issue 15): `cdr_records`, and grant slices that belong
to a CDR instead of a charging session (`charging_grants.cdr_record_id`, `session_id` nullable).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cdr_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("imsi", sa.String(length=15), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("called", sa.String(length=64), nullable=True),
        sa.Column("mcc", sa.String(length=3), nullable=False),
        sa.Column("mnc", sa.String(length=3), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("charged_amount", sa.BigInteger(), nullable=False),
        sa.Column("charged_currency", sa.String(length=3), nullable=False),
        sa.Column("units_unpaid", sa.BigInteger(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_cdr_records_card_id_cards")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cdr_records")),
        sa.UniqueConstraint("record_id", name=op.f("uq_cdr_records_record_id")),
    )
    with op.batch_alter_table("cdr_records", schema=None) as batch_op:
        batch_op.create_index("ix_cdr_records_card_id_started_at", ["card_id", "started_at"], unique=False)

    with op.batch_alter_table("charging_grants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cdr_record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )
        batch_op.alter_column(
            "session_id", existing_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_charging_grants_cdr_record_id_cdr_records"),
            "cdr_records",
            ["cdr_record_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("charging_grants", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_charging_grants_cdr_record_id_cdr_records"), type_="foreignkey"
        )
        batch_op.alter_column(
            "session_id", existing_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        )
        batch_op.drop_column("cdr_record_id")

    with op.batch_alter_table("cdr_records", schema=None) as batch_op:
        batch_op.drop_index("ix_cdr_records_card_id_started_at")

    op.drop_table("cdr_records")
