"""Dealer POS and campaigns: the till's top-up is priced by the same quote step with the campaigns for the
`pos` channel; the dealer's commission is on the charged (discounted) amount; promotion expense pays sales
the discount; caps and budgets count POS sales; `ledger verify` stays clean."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.db import Database
from roamcard.models import Card, PromotionSlot, TopupOrder
from tests.dealer.support import MadeDealer, Till, float_balance, make_dealer
from tests.dealer.test_pos_topups import PATH, topup_body, wallet
from tests.factories import make_card, make_catalog
from tests.promotion.test_topup import _balances, _load, _verify_clean
from tests.topup.test_api_flow import sign_in

TWENTY = '{ kind = "percent_off", percent = 20 }'
BONUS_CASH = '{ kind = "bonus_balance", amounts = { USD = 300 } }'
AT_THE_TILL = 'channels = ["pos"]'


@pytest.fixture
def card(database: Database) -> Card:
    with database.transaction() as session:
        make_catalog(session)
        return make_card(session)


@pytest.fixture
def dealer(database: Database) -> MadeDealer:
    return make_dealer(database, commission_bps=500, float_amount=20_000)


class TestPosPromotions:
    def test_a_discount_for_the_till_lowers_the_charge_and_the_commission_is_on_the_charge(
        self, database: Database, client: TestClient, dealer: MadeDealer, card: Card, tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("till-20", TWENTY, AT_THE_TILL))
        response = Till(client, dealer).post(PATH, topup_body(card))
        assert response.status_code == 201, response.text
        sale = response.json()
        assert sale["list_price"] == {"amount": 1000, "currency": "USD"}
        assert [(d["campaign_id"], d["amount"]["amount"]) for d in sale["discounts"]] == [("till-20", 200)]
        assert (sale["face_value"], sale["commission"], sale["net_debited"]) == (
            {"amount": 800, "currency": "USD"},
            {"amount": 40, "currency": "USD"},  # 5 % of the 800 charged, not of the 1000 listed
            {"amount": 760, "currency": "USD"},
        )
        assert float_balance(database, dealer) == 20_000 - 760
        assert wallet(database, card) == 1000  # the card gets the whole product
        books = _balances(database)
        assert abs(books["operator:sales:USD"]) == 1000  # 760 float + 40 commission + 200 promotion
        assert abs(books["operator:promotion:USD"]) == 200
        assert abs(books["operator:dealer_commission:USD"]) == 40
        # the card holder sees the same breakdown as any promoted recharge, and the sale reads back the same
        auth = sign_in(client, card.card_number)
        seen = client.get(f"/api/v1/topups/{sale['order_id']}", headers=auth).json()
        assert (seen["price"], seen["list_price"]) == (sale["face_value"], sale["list_price"])
        assert Till(client, dealer).get(f"{PATH}/till-7-0001").json() == sale
        _verify_clean(database)

    def test_it_is_the_price_the_quote_step_gives_for_the_pos_channel(
        self, database: Database, client: TestClient, dealer: MadeDealer, card: Card, tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("web-20", TWENTY, 'channels = ["web", "api"]'))
        sale = Till(client, dealer).post(PATH, topup_body(card)).json()
        assert sale["face_value"] == sale["list_price"] == {"amount": 1000, "currency": "USD"}
        assert sale["discounts"] == []

    def test_a_bonus_for_the_till_is_credited_from_promotion_expense(
        self, database: Database, client: TestClient, dealer: MadeDealer, card: Card, tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("till-cash", BONUS_CASH, AT_THE_TILL))
        sale = Till(client, dealer).post(PATH, topup_body(card)).json()
        assert sale["face_value"] == {"amount": 1000, "currency": "USD"}
        assert [(b["campaign_id"], b["amount"]) for b in sale["bonuses"]] == [("till-cash", 300)]
        assert wallet(database, card) == 1300
        _verify_clean(database)

    def test_pos_sales_count_against_the_campaigns_cap(
        self, database: Database, client: TestClient, dealer: MadeDealer, card: Card, tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("till-20", TWENTY, f"{AT_THE_TILL}\nmax_redemptions = 1"))
        till = Till(client, dealer)
        first = till.post(PATH, topup_body(card, "t-1")).json()
        second = till.post(PATH, topup_body(card, "t-2")).json()
        assert (first["face_value"]["amount"], second["face_value"]["amount"]) == (800, 1000)
        with database.reading() as session:
            assert list(session.scalars(select(PromotionSlot.order_id))) == [first["order_id"]]
        _verify_clean(database)

    def test_a_refused_sale_holds_no_slot(
        self, database: Database, client: TestClient, card: Card, tmp_path: Path
    ) -> None:
        poor = make_dealer(database, commission_bps=500, float_amount=100)
        _load(database, tmp_path, ("till-20", TWENTY, f"{AT_THE_TILL}\nmax_redemptions = 1"))
        refused = Till(client, poor).post(PATH, topup_body(card))
        assert refused.status_code in (402, 409), refused.text  # the float refusal
        with database.reading() as session:
            assert list(session.scalars(select(PromotionSlot))) == []
            assert list(session.scalars(select(TopupOrder))) == []
