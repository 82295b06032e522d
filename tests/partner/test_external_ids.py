"""`external_id` travels in a URL path (`GET …/topups/{external_id}`), so the partner API and the POS API
(one field, reseller/schemas.py) accept only 1-64 characters of [A-Za-z0-9._:-]: anything else is a 422 on
the field and creates nothing; every accepted one can be polled back."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from roamcard.db import Database
from roamcard.models import Card, DealerSale, PartnerTopup, TopupOrder
from tests.dealer.support import Till, float_balance, make_dealer
from tests.dealer.test_pos_topups import topup_body as pos_body
from tests.partner.support import TOPUPS, Platform, make_cards, make_partner, topup_body
from tests.voucher.support import count_rows

REFUSED = [
    "a/b",
    "a?b=1",
    "a#b",
    "a%2Fb",
    "with space",
    "ünïcode",
    "",
    "x" * 65,
    "semi;colon",
    'quote"d',
]
ACCEPTED = ["mp-20261202-000123", "A.b_c:d-9", "x" * 64, "0"]
POS = "/api/v1/pos/topups"


def field_errors(response: object) -> set[str]:
    body = response.json()  # type: ignore[attr-defined]
    return {str(error.get("field") or error.get("loc", [None])[-1]) for error in body["errors"]}


@pytest.fixture
def card(database: Database) -> Card:
    return make_cards(database)


@pytest.mark.parametrize("external_id", REFUSED)
def test_the_partner_api_refuses_an_unsafe_external_id_on_the_field(
    client: TestClient, database: Database, card: Card, external_id: str
) -> None:
    partner = make_partner(database, float_amount=20_000)
    response = Platform(client, partner).post(TOPUPS, topup_body(card, external_id=external_id))
    assert response.status_code == 422, response.text
    assert "external_id" in " ".join(field_errors(response))
    assert count_rows(database, TopupOrder) == 0
    assert count_rows(database, PartnerTopup) == 0


@pytest.mark.parametrize("external_id", ACCEPTED)
def test_every_accepted_partner_external_id_can_be_polled(
    client: TestClient, database: Database, card: Card, external_id: str
) -> None:
    partner = make_partner(database, float_amount=20_000)
    platform = Platform(client, partner)
    created = platform.post(TOPUPS, topup_body(card, external_id=external_id))
    assert created.status_code == 201, created.text
    polled = platform.get(f"{TOPUPS}/{external_id}")
    assert polled.status_code == 200, polled.text
    assert polled.json()["id"] == created.json()["id"]


@pytest.mark.parametrize("external_id", REFUSED)
def test_the_pos_api_refuses_an_unsafe_external_id_on_the_field(
    client: TestClient, database: Database, card: Card, external_id: str
) -> None:
    dealer = make_dealer(database, commission_bps=500, float_amount=20_000)
    response = Till(client, dealer).post(POS, pos_body(card, external_id=external_id))
    assert response.status_code == 422, response.text
    assert "external_id" in " ".join(field_errors(response))
    assert count_rows(database, DealerSale) == 0
    assert float_balance(database, dealer) == 20_000


@pytest.mark.parametrize("external_id", ["A.b_c:d-9", "x" * 64])
def test_every_accepted_pos_external_id_can_be_polled(
    client: TestClient, database: Database, card: Card, external_id: str
) -> None:
    dealer = make_dealer(database, commission_bps=500, float_amount=20_000)
    till = Till(client, dealer)
    created = till.post(POS, pos_body(card, external_id=external_id))
    assert created.status_code == 201, created.text
    polled = till.get(f"{POS}/{external_id}")
    assert polled.status_code == 200, polled.text
    assert polled.json() == created.json()
