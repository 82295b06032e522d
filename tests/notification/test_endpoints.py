from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.db import Database
from roamcard.jobs.worker import Worker
from roamcard.models import Card
from roamcard.notification import service
from tests.factories import DEFAULT_PASSWORD, make_card


class TestDemoMessages:
    def test_each_message_shows_its_status_and_provider_beside_its_text(
        self, client: TestClient, database: Database
    ) -> None:
        with database.transaction() as session:
            card = make_card(session)
            number = card.card_number
            service.queue_sms(session, card, "password_changed", key="m:1", card_tail="0000")
        Worker(database).drain()
        token = client.post("/api/v1/sessions", json={"card_number": number, "password": DEFAULT_PASSWORD})
        auth = {"Authorization": f"Bearer {token.json()['token']}"}

        [message] = client.get("/api/v1/demo/messages", headers=auth).json()
        assert (message["status"], message["provider"]) == ("sent", "console")
        assert message["body"].startswith("【远游卡】")

    def test_in_demo_mode_a_code_can_be_read_back_to_try_the_flows(
        self, client: TestClient, database: Database
    ) -> None:
        with database.transaction() as session:
            card = make_card(session)
            number = card.card_number
            service.queue_sms(
                session, card, "phone_change_code", key="c:1", code="482913", card_tail="0000", minutes=10
            )
        Worker(database).drain()
        with database.reading() as session:
            assert session.scalars(select(Card)).one().card_number == number
        token = client.post("/api/v1/sessions", json={"card_number": number, "password": DEFAULT_PASSWORD})
        auth = {"Authorization": f"Bearer {token.json()['token']}"}
        [message] = client.get("/api/v1/demo/messages", headers=auth).json()
        assert "482913" in message["body"]
