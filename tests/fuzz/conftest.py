"""One database per engine for a whole fuzz module (the fuzzers make hundreds of requests each; a fresh
clone per operation would cost more than the requests), made from the suite's migrated templates.

Fuzzing *wants* the state to pile up across operations (a card with top-ups, sessions, locked sign-ins),
so the module shares one database per engine; each test re-installs it as the process's database,
since the suite's other tests set and clear that global around theirs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from roamcard.app import create_app
from roamcard.config import get_settings
from roamcard.db import Database, set_database
from tests.conftest import IN_CI, PostgresTemplate
from tests.factories import DEFAULT_PASSWORD, make_card, make_catalog

# Examples per operation: bounded in `make test`, raised by `make fuzz` (FUZZ_EXAMPLES=500).
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0")) or None


@dataclass
class FuzzTarget:
    database: Database
    app: FastAPI
    card_number: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_target(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
    postgres_template: PostgresTemplate | str,
) -> Iterator[FuzzTarget]:
    drop: str | None = None
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("fuzz") / "roamcard.db"
        shutil.copy(sqlite_template, path)
        url = f"sqlite:///{path}"
    else:
        if isinstance(postgres_template, str):
            if IN_CI:
                pytest.fail(f"CI requires PostgreSQL: {postgres_template}")
            pytest.skip(postgres_template)
        drop = postgres_template.clone()
        url = postgres_template.url_for(drop)
    database = Database(get_settings().model_copy(update={"database_url": url}))
    set_database(database)
    app = create_app(database=database)
    with database.transaction() as session:
        make_catalog(session)
        number = make_card(session, phone="+8613800138111").card_number
    with TestClient(app) as client:
        signed_in = client.post(
            "/api/v1/sessions", json={"card_number": number, "password": DEFAULT_PASSWORD}
        )
        assert signed_in.status_code == 201, signed_in.text
    yield FuzzTarget(database, app, number, signed_in.json()["token"])
    set_database(None)
    database.dispose()
    if drop is not None and not isinstance(postgres_template, str):
        postgres_template.drop(drop)


@pytest.fixture
def target(fuzz_target: FuzzTarget) -> Iterator[FuzzTarget]:
    set_database(fuzz_target.database)
    yield fuzz_target
    set_database(None)
