"""Caps reserved when the order is created (promotion/service/caps.py): exact under parallel orders on
both engines, freed when an order expires, and a full campaign leaves the order to the next best or
refuses its quote."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from roamcard.auth.service import SignedInCard
from roamcard.db import Database
from roamcard.kit import clock
from roamcard.models import Card, PromotionSlot, TopupOrder
from roamcard.topup.service.create import create_topup
from roamcard.topup.service.expire import expire_unpaid
from tests.factories import make_card, make_catalog
from tests.promotion.test_quotes import CODE, _field_error, _quote, _topup
from tests.promotion.test_topup import TWENTY, _load

TEN_OFF = '{ kind = "amount_off", amounts = { CNY = 1000 } }'


def _cards(database: Database, count: int) -> list[SignedInCard]:
    with database.transaction() as session:
        make_catalog(session)
        cards = [make_card(session, password="123456") for _ in range(count)]
        return [_signed_in(c) for c in cards]


def _signed_in(card: Card) -> SignedInCard:
    return SignedInCard(
        card.id, card.card_number, card.status, card.phone, card.language, card.currency, None
    )


def _order(database: Database, card: SignedInCard) -> int:
    with database.tx() as tx:
        order, _ = create_topup(tx, card, product_id="data-5gb-30d", currency="CNY", payment_method="sandbox")
        return order.price_amount


def _discounted(database: Database) -> int:
    with database.reading() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(TopupOrder).where(TopupOrder.promotions.is_not(None))
            )
            or 0
        )


def _parallel(database: Database, cards: list[SignedInCard]) -> list[int]:
    with ThreadPoolExecutor(max_workers=32) as pool:
        return list(pool.map(lambda card: _order(database, card), cards))


class TestMaxRedemptions:
    def test_200_parallel_orders_against_50_give_exactly_50_discounts(
        self, database: Database, tmp_path: Path
    ) -> None:
        cards = _cards(database, 200)
        _load(database, tmp_path, ("spring", TWENTY, "max_redemptions = 50"))
        prices = _parallel(database, cards)
        assert sorted(prices).count(8640) == 50
        assert sorted(prices).count(10800) == 150
        assert _discounted(database) == 50
        with database.reading() as session:
            assert session.scalar(select(func.count()).select_from(PromotionSlot)) == 50

    def test_a_full_campaign_leaves_the_order_to_the_next_best(
        self, database: Database, tmp_path: Path
    ) -> None:
        cards = _cards(database, 3)
        _load(database, tmp_path, ("spring", TWENTY, "max_redemptions = 1"), ("ten", TEN_OFF, ""))
        assert [_order(database, card) for card in cards] == [8640, 9800, 9800]

    def test_an_expired_order_frees_its_slot(
        self, database: Database, tmp_path: Path, frozen_clock: clock.FrozenClock
    ) -> None:
        first, second, third = _cards(database, 3)
        _load(database, tmp_path, ("spring", TWENTY, "max_redemptions = 1"))
        assert _order(database, first) == 8640
        assert _order(database, second) == 10800
        frozen_clock.advance(hours=1)
        with database.transaction() as session:
            expire_unpaid(session)
        assert _order(database, third) == 8640

    def test_a_failed_order_frees_its_slot(
        self, database: Database, client: TestClient, tmp_path: Path
    ) -> None:
        from roamcard.jobs.sweepers import build_worker
        from tests.topup.test_api_flow import sign_in

        with database.transaction() as session:
            make_catalog(session)
            numbers = [make_card(session).card_number for _ in range(2)]
        _load(database, tmp_path, ("spring", TWENTY, "max_redemptions = 1"))
        first, second = (sign_in(client, number) for number in numbers)
        held = _topup(client, first, "k1").json()
        assert held["price"]["amount"] == 8640
        assert _topup(client, second, "k2").json()["price"]["amount"] == 10800  # the slot is held
        checkout = held["payment"]["checkout_url"].removeprefix("http://testserver")
        client.post(checkout, data={"decision": "decline"}, follow_redirects=False)
        build_worker(database).drain()
        with database.reading() as session:
            assert session.get(TopupOrder, held["id"]).status == "failed"  # type: ignore[union-attr]
        assert _topup(client, second, "k3").json()["price"]["amount"] == 8640


class TestMaxPerCard:
    def test_parallel_orders_of_one_card_get_it_max_per_card_times(
        self, database: Database, tmp_path: Path
    ) -> None:
        (card,) = _cards(database, 1)
        _load(database, tmp_path, ("spring", TWENTY, "max_per_card = 2"))
        prices = _parallel(database, [card] * 12)
        assert sorted(prices).count(8640) == 2
        assert _discounted(database) == 2


class TestFullWithQuoteOrCode:
    def test_a_quote_for_a_campaign_that_filled_up_is_refused(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, "max_redemptions = 1"))
        quote = _quote(client, auth).json()
        assert quote["charge"]["amount"] == 8640
        (other,) = _cards_of_catalog(database)
        assert _order(database, other) == 8640
        refused = _topup(client, auth, quote_id=quote["id"])
        assert (refused.status_code, refused.json()["code"]) == (409, "quote_expired")

    def test_a_code_whose_campaign_is_full_is_promo_exhausted(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, CODE + "\nmax_redemptions = 1"))
        assert _topup(client, auth, promo_code="SPRING2027").json()["price"]["amount"] == 8640
        _field_error(_topup(client, auth, "k2", promo_code="SPRING2027"), "promo_exhausted")


def _cards_of_catalog(database: Database) -> list[SignedInCard]:
    with database.transaction() as session:
        card = make_card(session, password="123456")
        return [
            SignedInCard(
                card.id, card.card_number, card.status, card.phone, card.language, card.currency, None
            )
        ]
