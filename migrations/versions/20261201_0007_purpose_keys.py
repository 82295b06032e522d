"""purpose keys: dealer API secrets stored encrypted instead of derived from the master secret; phone
codes hashed with a key id

Until now a dealer's API secret was HMAC(ROAMCARD_SECRET_KEY, key id + salt), so rotating the master
secret changed every till's secret. This migration computes each existing dealer's secret the old way,
with the ROAMCARD_SECRET_KEY the application is configured with (migrations/env.py passes it in), and
stores it encrypted under the "dealer-api" purpose key in the application's format
(`<key id>.<base64url(nonce | AES-256-GCM)>`, bound to the key id, see src/roamcard/keys.py), so existing
tills keep working. Run it with the same ROAMCARD_SECRET_KEY the server uses.

Downgrade gives dealers new salts: their tills need new secrets after a downgrade. Phone codes pending
while this runs (10 minutes at most) stop matching; the card holder asks for a new code.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _hkdf(master: bytes, info: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info.encode()).derive(master)


def _stored_secret(master: bytes, api_key_id: str, salt: str) -> str:
    """The secret the till has (the old derivation), sealed as keys.encrypt("dealer-api", ...) seals it."""
    digest = hmac.new(master, f"roamcard-dealer-api:{api_key_id}:{salt}".encode(), hashlib.sha256).digest()
    secret = "rcs_" + base64.urlsafe_b64encode(digest).decode().rstrip("=")
    key_id = _hkdf(master, "roamcard:key-id").hex()[:8]
    nonce = os.urandom(12)
    sealed = AESGCM(_hkdf(master, "roamcard:dealer-api")).encrypt(nonce, secret.encode(), api_key_id.encode())
    return f"{key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def upgrade() -> None:
    with op.batch_alter_table("phone_changes", schema=None) as batch_op:
        batch_op.alter_column(
            "code_hash",
            existing_type=sa.String(length=64),
            type_=sa.String(length=80),
            existing_nullable=False,
        )

    with op.batch_alter_table("dealers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("api_secret_encrypted", sa.String(length=300), nullable=True))
    connection = op.get_bind()
    dealers = connection.execute(sa.text("SELECT id, api_key_id, api_key_salt FROM dealers")).all()
    if dealers:
        master = context.config.attributes.get("secret_key")
        if not master:
            raise RuntimeError("0007 needs ROAMCARD_SECRET_KEY to keep existing dealers' API secrets")
        for dealer_id, api_key_id, salt in dealers:
            connection.execute(
                sa.text("UPDATE dealers SET api_secret_encrypted = :sealed WHERE id = :id"),
                {"sealed": _stored_secret(master.encode(), api_key_id, salt), "id": dealer_id},
            )
    with op.batch_alter_table("dealers", schema=None) as batch_op:
        batch_op.alter_column("api_secret_encrypted", existing_type=sa.String(length=300), nullable=False)
        batch_op.drop_column("api_key_salt")


def downgrade() -> None:
    with op.batch_alter_table("dealers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("api_key_salt", sa.String(length=64), nullable=True))
    connection = op.get_bind()
    for (dealer_id,) in connection.execute(sa.text("SELECT id FROM dealers")).all():
        connection.execute(
            sa.text("UPDATE dealers SET api_key_salt = :salt WHERE id = :id"),
            {"salt": secrets.token_hex(16), "id": dealer_id},
        )
    with op.batch_alter_table("dealers", schema=None) as batch_op:
        batch_op.alter_column("api_key_salt", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column("api_secret_encrypted")

    # Drop the key id ("<8 hex>:") so the old column width holds the hash (the old code will not match it).
    connection.execute(
        sa.text("UPDATE phone_changes SET code_hash = substr(code_hash, 10) WHERE length(code_hash) > 64")
    )
    with op.batch_alter_table("phone_changes", schema=None) as batch_op:
        batch_op.alter_column(
            "code_hash",
            existing_type=sa.String(length=80),
            type_=sa.String(length=64),
            existing_nullable=False,
        )
