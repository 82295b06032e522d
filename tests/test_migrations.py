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
