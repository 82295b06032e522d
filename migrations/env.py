from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection

from roamcard.config import get_settings
from roamcard.db import build_engine, normalise_url
from roamcard.models import Base
from roamcard.models.base import UTCDateTime

target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Migrations must not import application types: UTCDateTime is a plain timezone-aware DateTime."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _secret_key() -> str:
    """For data migrations that must re-key what the old master-secret derivations made (0007)."""
    return str(context.config.attributes.get("secret_key") or get_settings().secret_key.get_secret_value())


context.config.attributes["secret_key"] = _secret_key()


def _url() -> str:
    return context.config.attributes.get("database_url") or get_settings().database_url


def run_migrations_offline() -> None:
    context.configure(
        url=normalise_url(_url()),
        target_metadata=target_metadata,
        render_as_batch=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=target_metadata, render_as_batch=True, render_item=render_item
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = build_engine(_url(), pool_size=1)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
