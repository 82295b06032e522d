"""Refund retries (a failed late-payment refund retried by staff points at the one it retries) and an index
for purging old idempotency keys.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retry_of", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_refunds_retry_of"), ["retry_of"], unique=True)
        batch_op.create_foreign_key(
            batch_op.f("fk_refunds_retry_of_refunds"), "refunds", ["retry_of"], ["id"]
        )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idempotency_keys_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_created_at"))
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_refunds_retry_of_refunds"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_refunds_retry_of"))
        batch_op.drop_column("retry_of")
