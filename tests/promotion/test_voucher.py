"""Recharge cards and campaigns: a campaign with channel `voucher` adds its bonus to a redeemed card (never a
discount: the card was paid for at its face value), with its caps and budget held like any order's, on
both engines (PostgreSQL writes the redemption in one statement, SQLite in several)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.db import Database
from roamcard.models import Card, PromotionSlot, TopupOrder
from roamcard.topup.states import Channel
from roamcard.voucher import service
from roamcard.voucher.service.redeem import VoucherRedeemed
from tests.payment.test_sandbox_webhook import run_in_parallel
from tests.promotion.test_topup import _balances, _load, _verify_clean
from tests.topup.test_api_flow import sign_in
from tests.voucher.support import make_batch
from tests.voucher.test_redeem import new_card, redeem, wallet

BONUS_DATA = (
    '{ kind = "bonus_pack", asset = "DATA_BYTES", amount = 1073741824, validity_days = 30, '
    "value = { USD = 300 } }"
)
BONUS_CASH = '{ kind = "bonus_balance", amounts = { USD = 200 } }'
TEN_OFF = '{ kind = "percent_off", percent = 10 }'
FOR_CARDS = 'channels = ["voucher"]'


def _allowances(client: TestClient, auth: dict[str, str]) -> list[tuple[str, int]]:
    return [
        (a["kind"], a["remaining"]) for a in client.get("/api/v1/card", headers=auth).json()["allowances"]
    ]


def _slots(database: Database) -> list[str]:
    with database.reading() as session:
        return list(session.scalars(select(PromotionSlot.order_id)))


def _orders(database: Database) -> set[str]:
    with database.reading() as session:
        return set(session.scalars(select(TopupOrder.id)))


class TestVoucherBonus:
    def test_a_redeemed_card_gets_the_campaigns_bonus_from_promotion_expense(
        self, database: Database, client: TestClient, tmp_path: Path
    ) -> None:
        card = new_card(database)
        auth = sign_in(client, card.card_number)
        _load(database, tmp_path, ("cards-data", BONUS_DATA, FOR_CARDS))
        batch = make_batch(database, count=1, face_value=1000)
        response = redeem(client, auth, batch.pin(0))
        assert response.status_code == 201, response.text
        order = response.json()
        assert order["price"] == {"amount": 1000, "currency": "USD"}
        assert order["discounts"] == []
        assert [(b["campaign_id"], b["asset"], b["amount"]) for b in order["bonuses"]] == [
            ("cards-data", "DATA_BYTES", 1024**3)
        ]
        assert wallet(database, card) == 1000
        assert _allowances(client, auth) == [("data", 1024**3)]
        with database.reading() as session:
            stored = session.get(TopupOrder, order["id"])
            assert stored is not None
            assert stored.promotions is not None
            assert [p["campaign_id"] for p in stored.promotions] == ["cards-data"]
        books = _balances(database)
        assert abs(books["operator:promotion:DATA_BYTES"]) == 1024**3
        assert abs(books["operator:sales:USD"]) == 1000
        _verify_clean(database)

    def test_a_bonus_balance_is_added_to_the_cards_value(
        self, database: Database, client: TestClient, tmp_path: Path
    ) -> None:
        card = new_card(database)
        auth = sign_in(client, card.card_number)
        _load(database, tmp_path, ("cards-cash", BONUS_CASH, FOR_CARDS))
        batch = make_batch(database, count=1, face_value=1000)
        assert redeem(client, auth, batch.pin(0)).status_code == 201
        assert wallet(database, card) == 1200
        assert abs(_balances(database)["operator:promotion:USD"]) == 200
        _verify_clean(database)

    def test_a_discount_campaign_and_one_for_other_channels_give_a_card_nothing(
        self, database: Database, client: TestClient, tmp_path: Path
    ) -> None:
        card = new_card(database)
        auth = sign_in(client, card.card_number)
        _load(
            database,
            tmp_path,
            ("cards-off", TEN_OFF, FOR_CARDS),
            ("web-cash", BONUS_CASH, 'channels = ["web", "api"]'),
        )
        batch = make_batch(database, count=1, face_value=1000)
        order = redeem(client, auth, batch.pin(0)).json()
        assert (order["discounts"], order["bonuses"]) == ([], [])
        assert wallet(database, card) == 1000
        _verify_clean(database)

    def test_the_campaigns_caps_and_budget_count_redeemed_cards(
        self, database: Database, client: TestClient, tmp_path: Path
    ) -> None:
        # two redemptions by the cap, and a budget worth two bonuses: the third card gets none
        _load(
            database,
            tmp_path,
            ("cards-cash", BONUS_CASH, f"{FOR_CARDS}\nmax_redemptions = 2\nbudget = {{ USD = 600 }}"),
        )
        batch = make_batch(database, count=3, face_value=1000)
        cards = [new_card(database) for _ in range(3)]
        for index, card in enumerate(cards):
            assert redeem(client, sign_in(client, card.card_number), batch.pin(index)).status_code == 201
        assert [wallet(database, c) for c in cards] == [1200, 1200, 1000]
        assert len(_slots(database)) == 2
        _verify_clean(database)

    def test_the_per_card_cap_holds_for_redemptions(
        self, database: Database, client: TestClient, tmp_path: Path
    ) -> None:
        card = new_card(database)
        auth = sign_in(client, card.card_number)
        _load(database, tmp_path, ("cards-cash", BONUS_CASH, f"{FOR_CARDS}\nmax_per_card = 1"))
        batch = make_batch(database, count=2, face_value=1000)
        assert redeem(client, auth, batch.pin(0)).status_code == 201
        assert redeem(client, auth, batch.pin(1)).status_code == 201
        assert wallet(database, card) == 2200


class TestVoucherBonusUnderRaces:
    def test_a_pin_raced_by_two_cards_gives_one_bonus_and_the_losers_hold_is_given_back(
        self, database: Database, client: TestClient, tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("cards-cash", BONUS_CASH, f"{FOR_CARDS}\nmax_redemptions = 2"))
        batch = make_batch(database, count=2, face_value=1000)
        cards: list[Card] = [new_card(database) for _ in range(3)]

        def attempt(index: int) -> str:
            with database.transaction() as session:
                return service.redeem(
                    session, cards[index], batch.pin(0), channel=Channel.VOUCHER, client_key=f"10.0.0.{index}"
                ).id

        outcomes = run_in_parallel(2, attempt)
        assert len([o for o in outcomes if isinstance(o, str)]) == 1, outcomes
        assert [type(o) for o in outcomes if not isinstance(o, str)] == [VoucherRedeemed]
        assert set(_slots(database)) <= _orders(database)  # no slot held for an order never written
        assert len(_slots(database)) == 1
        # the second slot is still free: the third card's redemption gets the bonus
        assert redeem(client, sign_in(client, cards[2].card_number), batch.pin(1)).status_code == 201
        assert wallet(database, cards[2]) == 1200
        assert sorted(wallet(database, c) for c in cards[:2]) == [0, 1200]
        _verify_clean(database)
