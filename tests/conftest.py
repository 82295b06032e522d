"""Test databases, built through the migrations once and copied per test.

SQLite: a migrated template file, copied per test. PostgreSQL: a migrated template database, cloned per
test with CREATE DATABASE … TEMPLATE. Tests that take `database` run on both engines; the PostgreSQL run
skips (with the reason) when no server is reachable, except under CI=true where it is required.
"""

from __future__ import annotations

import os

# Cheap password hashing and test mode before any settings are read.
os.environ.setdefault("ROAMCARD_ENVIRONMENT", "test")
os.environ.setdefault("ROAMCARD_ARGON2_TIME_COST", "1")
os.environ.setdefault("ROAMCARD_ARGON2_MEMORY_KIB", "1024")
os.environ.setdefault("ROAMCARD_LOG_LEVEL", "WARNING")
os.environ.setdefault("ROAMCARD_PUBLIC_BASE_URL", "http://testserver")

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from roamcard import migrate
from roamcard.app import create_app
from roamcard.config import Settings, get_settings
from roamcard.db import Database, set_database
from roamcard.kit import clock
from roamcard.kit.ratelimit import reset_all
from roamcard.notification.providers import set_provider
from roamcard.payment import providers
from roamcard.sandbox import tasks as sandbox_tasks

POSTGRES_URL = os.environ.get("ROAMCARD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _postgres_reason() -> str | None:
    """None when PostgreSQL is usable, else why not."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {type(exc).__name__}: {exc}".splitlines()[0]
    return None


@pytest.fixture(scope="session")
def worker_tag(request: pytest.FixtureRequest) -> str:
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


class PostgresTemplate:
    def __init__(self, admin_url: str, name: str) -> None:
        import psycopg

        self.admin_url = admin_url
        self.name = name
        self._psycopg = psycopg
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._admin(f'CREATE DATABASE "{name}"')
        migrate.upgrade(self.url_for(name))

    def _admin(self, sql: str) -> None:
        with self._psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def url_for(self, name: str) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{name}"

    def clone(self) -> str:
        name = f"rc_test_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"')
        return name

    def drop(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_template(worker_tag: str) -> Iterator[PostgresTemplate | str]:
    reason = _postgres_reason()
    if reason is not None:
        yield reason
        return
    template = PostgresTemplate(POSTGRES_URL, f"rc_template_{worker_tag}_{os.getpid()}")
    yield template
    template.close()


def _settings_for(url: str) -> Settings:
    return get_settings().model_copy(update={"database_url": url})


@pytest.fixture(params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_template: PostgresTemplate | str,
) -> Iterator[Database]:
    """A freshly migrated database for this test, on each engine."""
    if request.param == "sqlite":
        path = tmp_path / "roamcard.db"
        shutil.copy(sqlite_template, path)
        db = Database(_settings_for(f"sqlite:///{path}"))
        set_database(db)
        yield db
        db.dispose()
        set_database(None)
        return
    if isinstance(postgres_template, str):
        if IN_CI:
            pytest.fail(f"CI requires PostgreSQL: {postgres_template}")
        pytest.skip(postgres_template)
    name = postgres_template.clone()
    db = Database(_settings_for(postgres_template.url_for(name)))
    set_database(db)
    yield db
    db.dispose()
    set_database(None)
    postgres_template.drop(name)


@pytest.fixture
def session(database: Database) -> Iterator[object]:
    """A session for arranging and asserting; tests commit it explicitly where the code under test would."""
    with database.transaction() as s:
        yield s


@pytest.fixture(autouse=True)
def _isolated_globals() -> Iterator[None]:
    yield
    clock.reset_clock()
    providers.reset()
    set_provider(None)
    sandbox_tasks.set_delivery(None)
    reset_all(get_settings().rate_limit_storage_url)


@pytest.fixture
def frozen_clock() -> Iterator[clock.FrozenClock]:
    frozen = clock.FrozenClock()
    clock.set_clock(frozen)
    yield frozen
    clock.reset_clock()


@pytest.fixture
def app(database: Database):  # type: ignore[no-untyped-def]
    return create_app(database=database)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as test_client:
        sandbox_tasks.set_delivery(
            lambda url, body, headers: (
                test_client.post("/webhooks/sandbox", content=body, headers=headers).status_code
            )
        )
        yield test_client
