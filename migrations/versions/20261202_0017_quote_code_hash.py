"""quotes.promo_code (a code in clear) replaced by promo_code_hash (its keyed hash, or its single-use row's)

Quotes live 15 minutes; the clear codes of open ones are dropped, not hashed (a migration has no keys), so
an order placed with such a quote is refused with `quote_expired` and the traveller confirms again.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("quotes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("promo_code_hash", sa.String(length=80), nullable=True))
        batch_op.drop_column("promo_code")


def downgrade() -> None:
    with op.batch_alter_table("quotes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("promo_code", sa.String(length=64), nullable=True))
        batch_op.drop_column("promo_code_hash")
