"""POST /api/v1/card/sos: each contact gets an SMS in their language; at most 3 an hour, even in parallel."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from roamcard.db import Database
from roamcard.emergency import service
from roamcard.errors import AppError
from roamcard.kit import clock
from roamcard.models import AuditEntry, Card, Notification, SosAlert
from roamcard.network import service as network_service
from tests.emergency.conftest import FRIEND, MUM

CONTACTS = "/api/v1/card/emergency-contacts"
SOS = "/api/v1/card/sos"
SEEN = datetime(2026, 12, 2, 9, 55, tzinfo=UTC)


def _messages(database: Database) -> list[Notification]:
    with database.reading() as session:
        return list(
            session.scalars(
                select(Notification).where(Notification.template == "sos_alert").order_by(Notification.id)
            )
        )


def _sos_count(database: Database, card: Card) -> int:
    with database.reading() as session:
        return session.scalar(select(func.count()).where(SosAlert.card_id == card.id)) or 0


@pytest.fixture
def contacts(client: TestClient, auth: dict[str, str]) -> None:
    response = client.put(CONTACTS, headers=auth, json={"holder_name": "李雷", "contacts": [MUM, FRIEND]})
    assert response.status_code == 200


class TestSosMessages:
    def test_each_contact_is_told_in_their_language_with_country_time_and_number(
        self, database: Database, client: TestClient, auth: dict[str, str], card: Card, contacts: None
    ) -> None:
        with database.tx() as tx:
            network_service.seen(tx, card.id, "310", "260", SEEN)
        response = client.post(SOS, headers=auth)
        assert response.status_code == 201
        body = response.json()
        assert (body["contacts_notified"], body["country"], body["emergency_number"]) == (2, "US", "911")
        assert body["id"].startswith("sos")
        zh, en = _messages(database)
        assert (zh.phone, zh.language) == ("+8613900139000", "zh-CN")
        assert (
            zh.body
            == "【远游卡】紧急求助：李雷请求帮助。最后所在网络：美国，12-02 09:55 UTC。当地急救电话：911。"
        )
        assert (en.phone, en.language) == ("+14155550123", "en")
        assert en.body == (
            "[Roamcard] SOS from 李雷, who asked for help. Last network: United States, 12-02 09:55 UTC. "
            "Local emergency number: 911."
        )
        assert len(zh.body) <= 70  # one UCS-2 part

    def test_without_a_network_or_a_name_the_message_still_goes(
        self, database: Database, client: TestClient, auth: dict[str, str], card: Card
    ) -> None:
        client.put(CONTACTS, headers=auth, json={"contacts": [FRIEND]})
        assert client.post(SOS, headers=auth).json()["emergency_number"] == "112"
        (message,) = _messages(database)
        assert message.body == (
            f"[Roamcard] SOS from the holder of travel card {card.card_number[-4:]}, who asked for help. "
            "Last network: an unknown country, -. Local emergency number: 112."
        )

    def test_the_local_number_follows_the_visited_country(
        self, database: Database, client: TestClient, auth: dict[str, str], card: Card, contacts: None
    ) -> None:
        with database.tx() as tx:
            network_service.seen(tx, card.id, "234", "15", SEEN)
        assert client.post(SOS, headers=auth).json()["emergency_number"] == "999"
        assert "英国" in _messages(database)[0].body

    def test_no_contacts_is_refused_and_not_counted(
        self, database: Database, client: TestClient, auth: dict[str, str], card: Card
    ) -> None:
        response = client.post(SOS, headers=auth)
        assert (response.status_code, response.json()["code"]) == (409, "no_emergency_contacts")
        assert _sos_count(database, card) == 0

    @pytest.mark.parametrize("status", ["suspended", "expired"])
    def test_a_suspended_or_expired_card_with_no_balance_still_sends_sos(
        self,
        database: Database,
        client: TestClient,
        auth: dict[str, str],
        card: Card,
        contacts: None,
        status: str,
    ) -> None:
        with database.transaction() as session:
            session.execute(update(Card).where(Card.id == card.id).values(status=status))
        assert client.post(SOS, headers=auth).status_code == 201
        assert len(_messages(database)) == 2

    def test_every_sos_is_audited(
        self, database: Database, client: TestClient, auth: dict[str, str], card: Card, contacts: None
    ) -> None:
        sos_id = client.post(SOS, headers=auth).json()["id"]
        with database.reading() as session:
            entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "emergency.sos")).one()
        assert (entry.target_id, entry.card_id, entry.staff_email) == (
            sos_id,
            card.id,
            f"card:{card.card_number}",
        )
        assert entry.after == {
            "channel": "api",
            "country": None,
            "emergency_number": "112",
            "contacts_notified": 2,
        }


class TestSosLimit:
    def test_the_fourth_in_an_hour_is_refused_until_the_first_is_an_hour_old(
        self,
        database: Database,
        client: TestClient,
        auth: dict[str, str],
        card: Card,
        contacts: None,
        frozen_clock: clock.FrozenClock,
    ) -> None:
        for _ in range(3):
            assert client.post(SOS, headers=auth).status_code == 201
            frozen_clock.advance(minutes=10)
        refused = client.post(SOS, headers=auth)
        assert (refused.status_code, refused.json()["code"]) == (429, "sos_limit_reached")
        assert refused.headers["Retry-After"] == str(30 * 60)
        frozen_clock.advance(minutes=30, seconds=1)
        assert client.post(SOS, headers=auth).status_code == 201
        assert _sos_count(database, card) == 4
        assert len(_messages(database)) == 8

    def test_parallel_requests_never_pass_the_limit(
        self, database: Database, client: TestClient, auth: dict[str, str], card: Card, contacts: None
    ) -> None:
        attempts = 8
        barrier = threading.Barrier(attempts)
        outcomes: list[str] = []

        def press() -> None:
            barrier.wait()
            try:
                with database.transaction() as session:
                    service.raise_sos(session, card, channel="api")
                outcomes.append("sent")
            except AppError as error:
                outcomes.append(error.code)

        threads = [threading.Thread(target=press) for _ in range(attempts)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["sent"] * 3 + ["sos_limit_reached"] * 5
        assert _sos_count(database, card) == 3
        assert len(_messages(database)) == 6
