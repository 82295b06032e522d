"""Emergency service and network status: card_networks, emergency_contacts, emergency_profiles, sos_alerts

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "card_networks",
        sa.Column("card_id", _ID, nullable=False),
        sa.Column("mcc", sa.String(length=3), nullable=False),
        sa.Column("mnc", sa.String(length=3), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("operator", sa.String(length=64), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_card_networks_card_id_cards")),
        sa.PrimaryKeyConstraint("card_id", name=op.f("pk_card_networks")),
    )
    op.create_table(
        "emergency_contacts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("card_id", _ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_emergency_contacts_card_id_cards")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_contacts")),
        sa.UniqueConstraint("card_id", "position", name=op.f("uq_emergency_contacts_card_id_position")),
    )
    op.create_index(op.f("ix_emergency_contacts_card_id"), "emergency_contacts", ["card_id"], unique=False)
    op.create_table(
        "emergency_profiles",
        sa.Column("card_id", _ID, nullable=False),
        sa.Column("holder_name", sa.String(length=60), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_emergency_profiles_card_id_cards")),
        sa.PrimaryKeyConstraint("card_id", name=op.f("pk_emergency_profiles")),
    )
    op.create_table(
        "sos_alerts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("card_id", _ID, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("network_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("emergency_number", sa.String(length=8), nullable=False),
        sa.Column("contacts_notified", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_sos_alerts_card_id_cards")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sos_alerts")),
        sa.UniqueConstraint("public_id", name=op.f("uq_sos_alerts_public_id")),
    )
    op.create_index("ix_sos_alerts_card_id_created_at", "sos_alerts", ["card_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sos_alerts_card_id_created_at", table_name="sos_alerts")
    op.drop_table("sos_alerts")
    op.drop_table("emergency_profiles")
    op.drop_index(op.f("ix_emergency_contacts_card_id"), table_name="emergency_contacts")
    op.drop_table("emergency_contacts")
    op.drop_table("card_networks")
