from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from roamcard.db import Database
from roamcard.models import Card
from tests.factories import DEFAULT_PASSWORD, make_card


@pytest.fixture
def card(database: Database) -> Card:
    with database.transaction() as session:
        return make_card(session, phone="+8613800138000")


@pytest.fixture
def auth(client: TestClient, card: Card) -> dict[str, str]:
    response = client.post(
        "/api/v1/sessions", json={"card_number": card.card_number, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 201
    return {"Authorization": f"Bearer {response.json()['token']}"}


MUM = {"name": "妈妈", "phone": "+86 139 0013 9000", "language": "zh-CN"}
FRIEND = {"name": "Alex  Smith", "phone": "+14155550123", "language": "en"}
