"""POST /api/v1/partner/validations: a dry run. 200 with the quote, or 422 naming the field; it never
says more about a card than whether it can receive the top-up, and it creates nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from roamcard.card import service as card_service
from roamcard.db import Database
from roamcard.models import Card, PartnerTopup, TopupOrder
from tests.partner.support import MadePartner, Platform, float_balance, make_cards, make_partner
from tests.voucher.support import count_rows

PATH = "/api/v1/partner/validations"


@pytest.fixture
def card(database: Database) -> Card:
    return make_cards(database)


@pytest.fixture
def partner(database: Database) -> MadePartner:
    return make_partner(database, commission_bps=500)


def check(card: Card, **changes: object) -> dict[str, object]:
    return {"card_number": card.card_number, "product_id": "balance-10", "currency": "USD", **changes}


class TestValidations:
    def test_a_card_that_can_receive_the_top_up_gets_the_quote(
        self, client: TestClient, database: Database, partner: MadePartner, card: Card
    ) -> None:
        response = Platform(client, partner).post(PATH, check(card))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["price"] == {"amount": 1000, "currency": "USD"}
        assert body["partner_cost"] == {"amount": 950, "currency": "USD"}
        assert body["commission"] == {"amount": 50, "currency": "USD"}
        assert set(body) == {"product_id", "price", "list_price", "partner_cost", "commission", "grants"}
        assert count_rows(database, TopupOrder) == 0
        assert count_rows(database, PartnerTopup) == 0
        assert float_balance(database, partner) == 100_000

    def test_an_unknown_card_is_a_422_on_the_card_number(
        self, client: TestClient, partner: MadePartner, card: Card
    ) -> None:
        response = Platform(client, partner).post(PATH, check(card, card_number="89103900000000000999"))
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "card_number"

    def test_a_suspended_card_is_refused_without_saying_why(
        self, client: TestClient, database: Database, partner: MadePartner, card: Card
    ) -> None:
        with database.transaction() as session:
            found = session.get(Card, card.id)
            assert found is not None
            card_service.suspend(session, found, reason="test")
        response = Platform(client, partner).post(PATH, check(card))
        assert response.status_code == 422
        error = response.json()["errors"][0]
        assert error["field"] == "card_number"
        assert card.phone not in response.text
        assert "suspend" not in response.text.lower()

    def test_a_product_the_partner_may_not_sell_is_refused(
        self, client: TestClient, database: Database, card: Card
    ) -> None:
        limited = make_partner(database, products=["balance-50"])
        response = Platform(client, limited).post(PATH, check(card))
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "product_id"
        assert Platform(client, limited).post(PATH, check(card, product_id="balance-50")).status_code == 200

    def test_the_answer_reveals_nothing_of_the_card(
        self, client: TestClient, partner: MadePartner, card: Card
    ) -> None:
        response = Platform(client, partner).post(PATH, check(card))
        assert card.phone not in response.text
        assert 'balance"' not in response.text
