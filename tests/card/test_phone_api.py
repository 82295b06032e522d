"""Rebinding the phone through the API: the current service password, then the code sent to the new number."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.db import Database
from roamcard.models import Card, Notification
from tests.factories import DEFAULT_PASSWORD, make_card, sms_text

NEW_PHONE = "+14155550123"
EN = {"Accept-Language": "en"}


@pytest.fixture
def card(database: Database) -> Card:
    with database.transaction() as session:
        return make_card(session)


@pytest.fixture
def auth(client: TestClient, card: Card) -> dict[str, str]:
    response = client.post(
        "/api/v1/sessions", json={"card_number": card.card_number, "password": DEFAULT_PASSWORD}
    )
    return {"Authorization": f"Bearer {response.json()['token']}", **EN}


def _codes_sent(database: Database) -> list[str]:
    with database.reading() as session:
        found = session.scalars(select(Notification).where(Notification.phone == NEW_PHONE))
        return [sms_text(notification) for notification in found]


class TestPhoneRebinding:
    def test_the_password_then_the_code_binds_the_new_number(
        self, client: TestClient, auth: dict[str, str], card: Card, database: Database
    ) -> None:
        started = client.post(
            "/api/v1/card/phone",
            json={"phone": NEW_PHONE, "current_password": DEFAULT_PASSWORD},
            headers=auth,
        )
        assert started.status_code == 202
        assert started.json()["new_phone"] == NEW_PHONE
        found = re.search(r"(?<!\d)(\d{6})(?!\d)", _codes_sent(database)[-1])
        assert found
        confirmed = client.post("/api/v1/card/phone/confirm", json={"code": found.group(1)}, headers=auth)
        assert confirmed.json() == {"phone": NEW_PHONE}
        assert client.get("/api/v1/card", headers=auth).json()["phone"] == NEW_PHONE

    @pytest.mark.parametrize("body", [{"phone": NEW_PHONE}, {"phone": NEW_PHONE, "current_password": ""}])
    def test_without_the_password_it_is_refused(
        self, client: TestClient, auth: dict[str, str], database: Database, body: dict[str, str]
    ) -> None:
        response = client.post("/api/v1/card/phone", json=body, headers=auth)
        assert response.status_code == 422
        assert "current_password" in [e["field"] for e in response.json()["errors"]]
        assert _codes_sent(database) == []

    def test_a_wrong_password_is_refused_and_sends_nothing(
        self, client: TestClient, auth: dict[str, str], card: Card, database: Database
    ) -> None:
        response = client.post(
            "/api/v1/card/phone", json={"phone": NEW_PHONE, "current_password": "00000000"}, headers=auth
        )
        assert (response.status_code, response.json()["errors"][0]["field"]) == (422, "current_password")
        assert _codes_sent(database) == []
        with database.reading() as session:
            stored = session.get(Card, card.id)
            assert stored is not None
            assert stored.phone == card.phone
