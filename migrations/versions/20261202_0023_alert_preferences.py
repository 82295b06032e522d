"""cards.alert_*: the card holder's switches for the optional alerts (pack usage, low balance, pack expiry,
new-country welcome), all on by default

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("alert_pack_usage", "alert_low_balance", "alert_pack_expiry", "alert_new_country")


def upgrade() -> None:
    with op.batch_alter_table("cards") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("cards") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
