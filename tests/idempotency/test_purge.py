"""Stored Idempotency-Key answers are purged after ROAMCARD_IDEMPOTENCY_KEY_RETENTION_HOURS (24)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.idempotency import service as idempotency
from roamcard.jobs.sweepers import SWEEPERS, purge_idempotency_keys
from roamcard.kit import clock
from roamcard.models import IdempotencyKey


def store(database: Database, key: str) -> None:
    with database.transaction() as session:
        idempotency.run_once(
            session, scope="card:1:topups", key=key, fingerprint="f" * 64, create=lambda: (201, {"key": key})
        )


def keys(database: Database) -> list[str]:
    with database.reading() as session:
        return sorted(session.scalars(select(IdempotencyKey.key)))


class TestPurge:
    def test_keys_older_than_a_day_are_purged_and_younger_ones_kept(
        self, database: Database, frozen_clock: clock.FrozenClock
    ) -> None:
        store(database, "old")
        frozen_clock.advance(hours=23)
        store(database, "young")
        frozen_clock.advance(hours=1, seconds=1)
        assert purge_idempotency_keys in SWEEPERS
        assert purge_idempotency_keys(database) == 1
        assert keys(database) == ["young"]
        assert purge_idempotency_keys(database) == 0

    def test_the_retention_is_configurable(
        self, database: Database, frozen_clock: clock.FrozenClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings = get_settings().model_copy(update={"idempotency_key_retention_hours": 48})
        monkeypatch.setattr("roamcard.idempotency.service.get_settings", lambda: settings)
        store(database, "k")
        frozen_clock.advance(hours=47)
        assert purge_idempotency_keys(database) == 0
        frozen_clock.advance(hours=2)
        assert purge_idempotency_keys(database) == 1

    def test_purging_works_in_chunks(self, database: Database, frozen_clock: clock.FrozenClock) -> None:
        for n in range(5):
            store(database, f"k{n}")
        frozen_clock.current += timedelta(days=2)
        with database.transaction() as session:
            assert idempotency.purge_expired(session, limit=3) == 3
        with database.transaction() as session:
            assert idempotency.purge_expired(session, limit=3) == 2
        assert keys(database) == []
