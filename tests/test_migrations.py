from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from roamcard import migrate
from roamcard.db import Database
from roamcard.models import Base


class TestMigrations:
    def test_migrations_match_the_models(self, database: Database) -> None:
        with database.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert differences == []

    def test_downgrade_to_base_and_up_again(self, database: Database) -> None:
        url = database.settings.database_url
        database.dispose()
        config = migrate.alembic_config(url)
        command.downgrade(config, "base")
        assert set(inspect(database.engine).get_table_names()) <= {"alembic_version"}
        command.upgrade(config, "head")
        assert set(Base.metadata.tables) <= set(inspect(database.engine).get_table_names())


class TestPurposeKeysMigration:
    def test_existing_dealers_keep_their_derived_api_secret_as_a_stored_encrypted_one(
        self, database: Database
    ) -> None:
        import base64
        import hashlib
        import hmac

        from sqlalchemy import text

        from roamcard.config import get_settings
        from roamcard.reseller import signing

        url = database.settings.database_url
        database.dispose()
        command.downgrade(migrate.alembic_config(url), "0005")
        with database.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO ledger_accounts (id, code, asset, kind, tracks_balance, balance, "
                    "created_at) VALUES (1, 'dealer:dlr_1:float:USD', 'USD', 'dealer_float', true, 0, "
                    "CURRENT_TIMESTAMP)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO dealers (id, public_id, name, status, currency, commission_bps, timezone, "
                    "float_account_id, api_key_id, api_key_salt, created_at, updated_at) VALUES (1, 'dlr_1', "
                    "'Shop', 'active', 'USD', 500, 'UTC', 1, 'dk_1', 'abcd', CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP)"
                )
            )
        # What a till was given before: HMAC of the master secret over the key id and the salt.
        master = get_settings().secret_key.get_secret_value().encode()
        digest = hmac.new(master, b"roamcard-dealer-api:dk_1:abcd", hashlib.sha256).digest()
        till_secret = "rcs_" + base64.urlsafe_b64encode(digest).decode().rstrip("=")

        command.upgrade(migrate.alembic_config(url), "head")
        with database.engine.connect() as connection:
            stored = connection.execute(text("SELECT api_secret_encrypted FROM dealers")).scalar_one()
        assert till_secret not in stored
        assert signing.unseal("dk_1", stored) == till_secret
