"""esim reissue and card order cancellation: the profile a reissued one replaces, the order's cancellation

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("esim_profiles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replaces_profile_id", ID, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_esim_profiles_replaces_profile_id_esim_profiles"),
            "esim_profiles",
            ["replaces_profile_id"],
            ["id"],
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_esim_profiles_replaces_profile_id"), ["replaces_profile_id"]
        )
    with op.batch_alter_table("card_orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("refund_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("card_orders", schema=None) as batch_op:
        batch_op.drop_column("refund_id")
        batch_op.drop_column("cancelled_at")
    with op.batch_alter_table("esim_profiles", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_esim_profiles_replaces_profile_id"), type_="unique")
        batch_op.drop_constraint(
            batch_op.f("fk_esim_profiles_replaces_profile_id_esim_profiles"), type_="foreignkey"
        )
        batch_op.drop_column("replaces_profile_id")
