"""esim: the SM-DP+ vendor's profile inventory and the SM-DP+ notification inbox

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "esim_profiles",
        sa.Column("id", ID, nullable=False),
        sa.Column("iccid", sa.String(length=22), nullable=False),
        sa.Column("imsi", sa.String(length=15), nullable=False),
        sa.Column("msisdn", sa.String(length=20), nullable=True),
        sa.Column("smdp_address", sa.String(length=253), nullable=False),
        sa.Column("matching_id", sa.String(length=255), nullable=False),
        sa.Column("confirmation_code_required", sa.Boolean(), nullable=False),
        sa.Column("confirmation_code", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("card_id", ID, nullable=True),
        sa.Column("eid", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("allocated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_esim_profiles_card_id_cards")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_esim_profiles")),
        sa.UniqueConstraint("iccid", name=op.f("uq_esim_profiles_iccid")),
        sa.UniqueConstraint("msisdn", name=op.f("uq_esim_profiles_msisdn")),
    )
    with op.batch_alter_table("esim_profiles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_esim_profiles_card_id"), ["card_id"], unique=False)
        batch_op.create_index("ix_esim_profiles_status_id", ["status", "id"], unique=False)
    op.create_table(
        "esim_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("iccid", sa.String(length=22), nullable=False),
        sa.Column("notification_point_id", sa.Integer(), nullable=False),
        sa.Column("event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("point_status", sa.String(length=40), nullable=False),
        sa.Column("eid", sa.String(length=32), nullable=True),
        sa.Column("profile_type", sa.String(length=64), nullable=True),
        sa.Column("function_call_identifier", sa.String(length=128), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_esim_events")),
        sa.UniqueConstraint(
            "iccid",
            "notification_point_id",
            "event_at",
            name=op.f("uq_esim_events_iccid_notification_point_id_event_at"),
        ),
    )
    with op.batch_alter_table("esim_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_esim_events_iccid"), ["iccid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("esim_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_esim_events_iccid"))
    op.drop_table("esim_events")
    with op.batch_alter_table("esim_profiles", schema=None) as batch_op:
        batch_op.drop_index("ix_esim_profiles_status_id")
        batch_op.drop_index(batch_op.f("ix_esim_profiles_card_id"))
    op.drop_table("esim_profiles")
