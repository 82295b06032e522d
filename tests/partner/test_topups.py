"""POST /api/v1/partner/topups: priced by the quote step, paid from the float (down to the credit limit,
never past it), the order fulfilled and its callback queued; `external_id` makes retries safe."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.db import Database
from roamcard.idempotency import service as idempotency
from roamcard.jobs.outbox import QUEUED
from roamcard.ledger import service as ledger
from roamcard.models import Card, Job, LedgerTransfer, Notification, PartnerCallback, PartnerTopup, TopupOrder
from roamcard.partner.repository import partner_by_api_key_id
from roamcard.partner.service import topups
from roamcard.partner.service.callbacks import body_of
from roamcard.topup.states import Channel
from tests.partner.support import (
    TOPUPS,
    MadePartner,
    Platform,
    float_balance,
    make_cards,
    make_partner,
    topup_body,
)
from tests.payment.test_sandbox_webhook import run_in_parallel
from tests.voucher.support import assert_books_balance, count_rows, derived_balance


@pytest.fixture
def card(database: Database) -> Card:
    return make_cards(database)


@pytest.fixture
def partner(database: Database) -> MadePartner:
    return make_partner(database, commission_bps=500, float_amount=20_000)


def wallet(database: Database, card: Card) -> int:
    with database.reading() as session:
        return ledger.wallet_account(session, card.id, card.currency).balance


def api_partner(database: Database, partner: MadePartner) -> Any:
    with database.tx() as tx:
        found = partner_by_api_key_id(tx, partner.api_key_id)
    assert found is not None
    return found


class TestATopUp:
    def test_it_credits_the_card_and_moves_the_float_by_the_partner_cost(
        self, client: TestClient, database: Database, partner: MadePartner, card: Card
    ) -> None:
        response = Platform(client, partner).post(TOPUPS, topup_body(card))
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["id"].startswith("top_")
        assert body["external_id"] == "mp-0001"
        assert body["status"] == "fulfilled"
        assert body["price"] == {"amount": 1000, "currency": "USD"}
        assert body["commission"] == {"amount": 50, "currency": "USD"}
        assert body["partner_cost"] == {"amount": 950, "currency": "USD"}
        assert body["created_at"]
        assert wallet(database, card) == 1000
        assert float_balance(database, partner) == 20_000 - 950
        with database.reading() as session:
            order = session.get(TopupOrder, body["id"])
            assert order is not None
            assert (order.channel, order.payment_method) == (Channel.PARTNER.value, "partner")
        assert count_rows(database, Notification) == 1

    def test_commission_is_booked_and_the_ledger_verifies(
        self, client: TestClient, database: Database, partner: MadePartner, card: Card
    ) -> None:
        for index in range(3):
            Platform(client, partner).post(TOPUPS, topup_body(card, f"c-{index}"))
        assert derived_balance(database, "operator:partner_commission:USD") == -150
        assert derived_balance(database, "operator:partner_deposits:USD") == -20_000
        assert float_balance(database, partner) == 20_000 - 3 * 950
        with database.reading() as session:
            reasons = set(session.scalars(select(LedgerTransfer.reason)))
        assert {"partner_credit", "partner_sale", "partner_commission"} <= reasons
        assert_books_balance(database)

    def test_its_status_can_be_polled(self, client: TestClient, partner: MadePartner, card: Card) -> None:
        platform = Platform(client, partner)
        created = platform.post(TOPUPS, topup_body(card)).json()
        polled = platform.get(f"{TOPUPS}/mp-0001")
        assert polled.status_code == 200
        assert polled.json() == {**created, "card_number": card.card_number}
        missing = platform.get(f"{TOPUPS}/never")
        assert (missing.status_code, missing.json()["code"]) == (404, "partner_topup_not_found")

    def test_another_partners_top_up_is_not_found(
        self, client: TestClient, database: Database, partner: MadePartner, card: Card
    ) -> None:
        Platform(client, partner).post(TOPUPS, topup_body(card))
        other = make_partner(database)
        assert Platform(client, other).get(f"{TOPUPS}/mp-0001").status_code == 404

    def test_a_final_top_up_queues_its_callback(
        self, client: TestClient, database: Database, partner: MadePartner, card: Card
    ) -> None:
        Platform(client, partner).post(TOPUPS, topup_body(card))
        assert count_rows(database, PartnerCallback, PartnerCallback.status == "pending") == 1
        assert count_rows(database, Job, Job.kind == "partner.callback", Job.status == QUEUED) == 1


class TestIdempotency:
    def test_a_retry_with_the_same_body_replays_the_first_answer(
        self, client: TestClient, database: Database, partner: MadePartner, card: Card
    ) -> None:
        platform = Platform(client, partner)
        first = platform.post(TOPUPS, topup_body(card))
        again = platform.post(TOPUPS, topup_body(card))
        assert again.status_code == 201
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        assert count_rows(database, TopupOrder) == 1
        assert float_balance(database, partner) == 20_000 - 950

    def test_the_same_external_id_with_another_body_is_a_409(
        self, client: TestClient, database: Database, partner: MadePartner, card: Card
    ) -> None:
        platform = Platform(client, partner)
        platform.post(TOPUPS, topup_body(card))
        other = platform.post(TOPUPS, topup_body(card, product_id="balance-50"))
        assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")
        assert count_rows(database, TopupOrder) == 1

    def test_parallel_retries_of_one_external_id_make_one_order_and_move_the_float_once(
        self, database: Database, partner: MadePartner, card: Card
    ) -> None:
        found = api_partner(database, partner)
        body = topup_body(card, "rush")

        def attempt(_: int) -> str:
            with database.tx() as tx:
                stored = idempotency.run_once(
                    tx,
                    scope=f"partner:{found.id}:topups",
                    key=body["external_id"],
                    fingerprint=idempotency.request_fingerprint("POST", TOPUPS, body),
                    create=lambda: (201, body_of(topups.create(tx, found, **body))),
                )
                return str(stored.body["id"])

        results = run_in_parallel(12, attempt)
        assert [r for r in results if isinstance(r, Exception)] == []
        assert len(set(results)) == 1
        assert count_rows(database, TopupOrder) == 1
        assert count_rows(database, PartnerTopup) == 1
        assert float_balance(database, partner) == 20_000 - 950
        assert wallet(database, card) == 1000
        assert_books_balance(database)


class TestTheFloat:
    def test_a_top_up_the_float_cannot_pay_is_a_402_and_creates_nothing(
        self, client: TestClient, database: Database, card: Card
    ) -> None:
        poor = make_partner(database, commission_bps=0, float_amount=500)
        response = Platform(client, poor).post(TOPUPS, topup_body(card))
        assert response.status_code == 402, response.text
        assert response.json()["code"] == "insufficient_float"
        assert response.headers["content-type"].startswith("application/problem+json")
        assert count_rows(database, TopupOrder) == 0
        assert count_rows(database, PartnerTopup) == 0
        assert count_rows(database, PartnerCallback) == 0
        assert float_balance(database, poor) == 500
        assert wallet(database, card) == 0
        # And the same external id may be retried once the float is topped up.
        assert Platform(client, poor).post(TOPUPS, topup_body(card)).status_code == 402

    def test_a_post_paid_partner_may_go_down_to_its_credit_limit(
        self, client: TestClient, database: Database, card: Card
    ) -> None:
        owing = make_partner(database, commission_bps=0, float_amount=0, credit_limit=2_500)
        platform = Platform(client, owing)
        assert platform.post(TOPUPS, topup_body(card, "a")).status_code == 201
        assert platform.post(TOPUPS, topup_body(card, "b")).status_code == 201
        assert platform.post(TOPUPS, topup_body(card, "c")).status_code == 402
        assert float_balance(database, owing) == -2_000
        assert_books_balance(database)

    def test_parallel_top_ups_never_take_the_float_past_its_limit(
        self, database: Database, card: Card
    ) -> None:
        owing = make_partner(database, commission_bps=0, float_amount=1_500, credit_limit=2_000)  # room for 3
        found = api_partner(database, owing)

        def attempt(index: int) -> str:
            with database.tx() as tx:
                return topups.create(tx, found, **topup_body(card, f"rush-{index}")).order_status

        results = run_in_parallel(8, attempt)
        assert results.count("fulfilled") == 3
        assert {type(r).__name__ for r in results if isinstance(r, Exception)} == {"InsufficientFloat"}
        assert float_balance(database, owing) == -1_500
        assert wallet(database, card) == 3_000
        assert count_rows(database, PartnerTopup) == 3
        assert_books_balance(database)


class TestRefusals:
    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"card_number": "89103900000000000999"}, "card_number"),
            ({"product_id": "no-such-product"}, "product_id"),
            ({"currency": "CNY"}, "currency"),
        ],
    )
    def test_a_bad_field_is_a_422_and_creates_nothing(
        self,
        client: TestClient,
        database: Database,
        partner: MadePartner,
        card: Card,
        change: dict[str, str],
        field: str,
    ) -> None:
        response = Platform(client, partner).post(TOPUPS, topup_body(card, **change))
        assert response.status_code == 422, response.text
        assert field in {
            error.get("field") or error.get("loc", [None])[-1] for error in response.json()["errors"]
        }
        assert count_rows(database, TopupOrder) == 0
        assert float_balance(database, partner) == 20_000

    def test_a_sandbox_partner_only_tops_up_sandbox_cards(
        self, client: TestClient, database: Database, card: Card
    ) -> None:
        sandbox = make_partner(database, mode="sandbox", callback_url="http://127.0.0.1:9/cb")
        platform = Platform(client, sandbox)
        refused = platform.post(TOPUPS, topup_body(card))
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == "card_number"
        sandbox_card = make_cards(database, sandbox=True)
        assert platform.post(TOPUPS, topup_body(sandbox_card)).status_code == 201
        # Sandbox money stays off the real books' sales.
        assert derived_balance(database, "operator:partner_sandbox_sales:USD") == 950 + 50
        assert_books_balance(database)

    def test_a_product_the_partner_may_not_sell_is_refused(
        self, client: TestClient, database: Database, card: Card
    ) -> None:
        limited = make_partner(database, products=["balance-50"])
        response = Platform(client, limited).post(TOPUPS, topup_body(card))
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "product_id"


class TestProducts:
    def test_the_partner_sees_what_it_may_sell_with_its_cost_and_commission(
        self, client: TestClient, database: Database
    ) -> None:
        make_cards(database)
        limited = make_partner(database, commission_bps=300, products=["balance-10", "balance-50"])
        response = Platform(client, limited).get("/api/v1/partner/products")
        assert response.status_code == 200, response.text
        shown = {product["id"]: product for product in response.json()}
        assert set(shown) == {"balance-10", "balance-50"}
        assert shown["balance-10"]["price"] == {"amount": 1000, "currency": "USD"}
        assert shown["balance-10"]["commission"] == {"amount": 30, "currency": "USD"}
        assert shown["balance-10"]["partner_cost"] == {"amount": 970, "currency": "USD"}

    def test_every_product_in_the_currency_when_no_list_is_set(
        self, client: TestClient, database: Database, partner: MadePartner
    ) -> None:
        make_cards(database)
        everything = Platform(client, partner).get("/api/v1/partner/products?currency=USD").json()
        assert len(everything) > 2
        assert all(p["price"] is None or p["price"]["currency"] == "USD" for p in everything)
