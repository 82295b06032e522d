"""The card's last network: recorded by the charging API, moving forward in time only."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from roamcard.db import Database
from roamcard.models import Card
from roamcard.network import service
from tests.factories import DEFAULT_PASSWORD, make_card

AT = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def card(database: Database) -> Card:
    with database.transaction() as session:
        return make_card(session)


class TestSeen:
    def test_the_first_sighting_is_recorded_with_country_and_operator(
        self, database: Database, card: Card
    ) -> None:
        with database.tx() as tx:
            assert service.seen(tx, card.id, "310", "260", AT)
        with database.tx() as tx:
            last = service.last_network(tx, card.id)
        assert last == service.LastNetwork("310", "260", "US", "T-Mobile", AT)

    def test_a_later_sighting_replaces_it(self, database: Database, card: Card) -> None:
        with database.tx() as tx:
            service.seen(tx, card.id, "310", "260", AT)
            assert service.seen(tx, card.id, "440", "10", AT + timedelta(hours=3))
            last = service.last_network(tx, card.id)
        assert last is not None
        assert (last.country, last.operator, last.seen_at) == ("JP", "NTT docomo", AT + timedelta(hours=3))

    def test_an_older_or_equal_report_changes_nothing(self, database: Database, card: Card) -> None:
        with database.tx() as tx:
            service.seen(tx, card.id, "440", "10", AT)
        with database.tx() as tx:
            assert not service.seen(tx, card.id, "310", "260", AT - timedelta(seconds=1))
            assert not service.seen(tx, card.id, "310", "260", AT)
            last = service.last_network(tx, card.id)
        assert last is not None
        assert (last.mcc, last.mnc, last.seen_at) == ("440", "10", AT)

    def test_an_unknown_network_is_kept_with_its_codes(self, database: Database, card: Card) -> None:
        with database.tx() as tx:
            service.seen(tx, card.id, "999", "01", AT)
            assert service.last_network(tx, card.id) == service.LastNetwork("999", "01", None, None, AT)

    def test_it_works_inside_an_orm_session_too(self, database: Database, card: Card) -> None:
        with database.transaction() as session:
            assert service.seen(session, card.id, "234", "15", AT)
        with database.reading() as session:
            last = service.last_network(session, card.id)
        assert last is not None
        assert last.country == "GB"

    def test_parallel_reports_keep_the_newest(self, database: Database, card: Card) -> None:
        times = [AT + timedelta(minutes=minutes) for minutes in (5, 1, 9, 3, 7, 2, 8, 4)]
        barrier = threading.Barrier(len(times))
        errors: list[BaseException] = []

        def report(at: datetime) -> None:
            try:
                barrier.wait()
                with database.tx() as tx:
                    service.seen(tx, card.id, "262", str(at.minute).zfill(2), at)
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=report, args=(at,)) for at in times]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with database.tx() as tx:
            last = service.last_network(tx, card.id)
        assert last is not None
        assert (last.mnc, last.seen_at) == ("09", AT + timedelta(minutes=9))


class TestCardApi:
    def _auth(self, client: TestClient, card: Card) -> dict[str, str]:
        token = client.post(
            "/api/v1/sessions", json={"card_number": card.card_number, "password": DEFAULT_PASSWORD}
        ).json()["token"]
        return {"Authorization": f"Bearer {token}"}

    def test_network_is_null_until_seen(self, client: TestClient, card: Card) -> None:
        assert client.get("/api/v1/card", headers=self._auth(client, card)).json()["network"] is None

    def test_network_shows_the_last_sighting(
        self, database: Database, client: TestClient, card: Card
    ) -> None:
        auth = self._auth(client, card)
        with database.tx() as tx:
            service.seen(tx, card.id, "310", "260", AT)
        network = client.get("/api/v1/card", headers=auth).json()["network"]
        assert network == {
            "mcc": "310",
            "mnc": "260",
            "country": "US",
            "operator": "T-Mobile",
            "seen_at": "2026-12-02T10:00:00Z",
        }
