"""quotes.expires_at indexed: a sweeper deletes quotes a day after they expired (`purge_expired_quotes`)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_quotes_expires_at"), "quotes", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_quotes_expires_at"), table_name="quotes")
