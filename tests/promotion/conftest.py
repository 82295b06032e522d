from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from roamcard.db import Database
from tests.factories import make_card, make_catalog
from tests.topup.test_api_flow import sign_in


@pytest.fixture
def auth(database: Database, client: TestClient) -> dict[str, str]:
    """A signed-in card, with the demo catalogue loaded."""
    with database.transaction() as session:
        make_catalog(session)
        number = make_card(session).card_number
    return sign_in(client, number)
