"""sms delivery: message secrets encrypted apart from the body, routes, provider states and receipts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("params", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("secret", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("secret_until_shown", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("secret_shown_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("route", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("route_index", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("error_code", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("error_detail", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("attempt_started_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_notifications_provider_reference", ["provider", "provider_reference"])
        batch_op.create_index("ix_notifications_phone_created", ["phone", "created_at"])
    op.create_table(
        "password_resets",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code_hash", sa.String(length=80), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_password_resets_card_id_cards")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_resets")),
    )
    with op.batch_alter_table("password_resets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_password_resets_card_id"), ["card_id"], unique=False)
    # Bodies written before this revision may hold codes and passwords in clear: mask them.
    op.execute(
        "UPDATE notifications SET body = '(secret removed)' "
        "WHERE template IN ('password_reset', 'phone_change_code')"
    )


def downgrade() -> None:
    with op.batch_alter_table("password_resets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_password_resets_card_id"))
    op.drop_table("password_resets")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_phone_created")
        batch_op.drop_index("ix_notifications_provider_reference")
        for column in (
            "updated_at",
            "finished_at",
            "attempt_started_at",
            "error_detail",
            "error_code",
            "attempts",
            "route_index",
            "route",
            "secret_shown_at",
            "secret_until_shown",
            "secret",
            "params",
        ):
            batch_op.drop_column(column)
