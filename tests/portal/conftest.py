from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from roamcard.db import Database
from roamcard.models import Card
from tests.factories import make_card, make_catalog
from tests.portal.helpers import sign_in


@pytest.fixture
def card(database: Database) -> Card:
    with database.transaction() as session:
        make_catalog(session)
        return make_card(session)


@pytest.fixture
def signed_in(client: TestClient, card: Card) -> TestClient:
    sign_in(client, card.card_number)
    return client
