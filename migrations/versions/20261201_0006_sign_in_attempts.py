"""sign-in attempts: one counter per sign-in name (card number, staff e-mail), known or not

Replaces the failure counters on `cards` and `staff_members`, which only existed for issued names and
so told an attacker which card numbers and e-mails are real.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_attempts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=254), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_attempts")),
        sa.UniqueConstraint("scope", "subject", name=op.f("uq_sign_in_attempts_scope_subject")),
    )
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch copy of `cards` would have to drop a table
    # that other tables reference.
    for table in ("cards", "staff_members"):
        op.drop_column(table, "locked_until")
        op.drop_column(table, "failed_logins")


def downgrade() -> None:
    for table in ("cards", "staff_members"):
        op.add_column(table, sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        op.add_column(table, sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
    op.drop_table("sign_in_attempts")
