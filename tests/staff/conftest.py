from __future__ import annotations

import pytest

from roamcard.db import Database
from roamcard.models import Card
from tests.factories import make_card, make_catalog


@pytest.fixture
def card(database: Database) -> Card:
    with database.transaction() as session:
        make_catalog(session)
        return make_card(session, phone="+8613812345678")
