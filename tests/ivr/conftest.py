from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from roamcard.db import Database
from roamcard.models import Card
from tests.factories import make_card, make_catalog
from tests.ivr.phone import Phone

PASSWORD = "73918462"  # digits found nowhere else, so a leak is easy to spot


@pytest.fixture
def card(database: Database) -> Card:
    with database.transaction() as session:
        make_catalog(session)
        return make_card(session, password=PASSWORD, phone="+8613812345678")


@pytest.fixture
def english_card(database: Database) -> Card:
    with database.transaction() as session:
        make_catalog(session)
        return make_card(session, password=PASSWORD, phone="+14155550123", language="en")


@pytest.fixture
def phone(client: TestClient) -> Phone:
    return Phone(client)
