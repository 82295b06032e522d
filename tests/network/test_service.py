"""The card's last network: recorded by the charging API, moving forward in time only."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.db import Database
from roamcard.models import Card, Notification
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


def _welcomes(database: Database, card: Card) -> list[Notification]:
    with database.reading() as session:
        query = select(Notification).where(
            Notification.card_id == card.id, Notification.template == "welcome_country"
        )
        return list(session.scalars(query.order_by(Notification.id)))


class TestWelcomeToANewCountry:
    def test_the_first_network_in_a_country_sends_the_welcome_sms(
        self, database: Database, card: Card
    ) -> None:
        with database.tx() as tx:
            service.seen(tx, card.id, "310", "260", AT)
        (sms,) = _welcomes(database, card)
        assert sms.phone == card.phone
        assert sms.body.startswith("【远游卡】欢迎来到美国。紧急电话免费：请拨 911。资费和套餐：http")
        assert sms.body.endswith("/recharge")

    def test_in_english_for_an_english_card(self, database: Database) -> None:
        with database.transaction() as session:
            card = make_card(session, language="en", phone="+14155550123")
        with database.tx() as tx:
            service.seen(tx, card.id, "234", "15", AT)
        (sms,) = _welcomes(database, card)
        assert sms.body.startswith(
            "[Roamcard] Welcome to United Kingdom. Emergency calls are free: dial 999. Rates and packs: "
        )

    def test_once_per_country_even_when_coming_back(self, database: Database, card: Card) -> None:
        with database.tx() as tx:
            service.seen(tx, card.id, "310", "260", AT)
            service.seen(tx, card.id, "310", "410", AT + timedelta(minutes=1))  # another US network
            service.seen(tx, card.id, "302", "610", AT + timedelta(minutes=2))  # Canada
            service.seen(tx, card.id, "311", "480", AT + timedelta(minutes=3))  # back in the US
        assert [sms.params["country"] for sms in _welcomes(database, card) if sms.params] == [
            "美国",
            "加拿大",
        ]

    def test_an_unknown_country_sends_nothing(self, database: Database, card: Card) -> None:
        with database.tx() as tx:
            service.seen(tx, card.id, "999", "01", AT)
        assert _welcomes(database, card) == []

    def test_exactly_once_under_parallel_reports(self, database: Database, card: Card) -> None:
        reports = 8
        barrier = threading.Barrier(reports)
        errors: list[BaseException] = []

        def report(index: int) -> None:
            try:
                barrier.wait()
                with database.tx() as tx:
                    service.seen(tx, card.id, "440", "10", AT + timedelta(seconds=index))
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=report, args=(index,)) for index in range(reports)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(_welcomes(database, card)) == 1
