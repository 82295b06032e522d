from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from roamcard.db import Database
from roamcard.dealer.service import sales
from roamcard.idempotency import service as idempotency
from roamcard.ledger import service as ledger
from roamcard.models import Card, DealerSale, LedgerTransfer, Notification, TopupOrder
from roamcard.topup.states import TopupStatus
from tests.dealer.support import MadeDealer, Till, dealer_row, float_balance, make_dealer
from tests.factories import make_card, make_catalog
from tests.payment.test_sandbox_webhook import run_in_parallel
from tests.statements import record_statements
from tests.topup.test_api_flow import sign_in
from tests.voucher.support import assert_books_balance, count_rows, derived_balance

PATH = "/api/v1/pos/topups"


@pytest.fixture
def card(database: Database) -> Card:
    with database.transaction() as session:
        make_catalog(session)
        return make_card(session)


@pytest.fixture
def dealer(database: Database) -> MadeDealer:
    return make_dealer(database, commission_bps=500, float_amount=20_000)


def wallet(database: Database, card: Card) -> int:
    with database.reading() as session:
        return ledger.wallet_account(session, card.id, card.currency).balance


def topup_body(card: Card, external_id: str = "till-7-0001", **extra: Any) -> dict[str, Any]:
    return {"external_id": external_id, "card_number": card.card_number, "product_id": "balance-10", **extra}


class TestTopUp:
    def test_debits_the_float_less_commission_credits_the_card_and_sends_an_sms(
        self, database: Database, client: TestClient, dealer: MadeDealer, card: Card
    ) -> None:
        response = Till(client, dealer).post(PATH, topup_body(card))
        assert response.status_code == 201, response.text
        sale = response.json()
        assert sale["status"] == "fulfilled"
        assert (sale["face_value"], sale["commission"], sale["net_debited"]) == (
            {"amount": 1000, "currency": "USD"},
            {"amount": 50, "currency": "USD"},
            {"amount": 950, "currency": "USD"},
        )
        assert float_balance(database, dealer) == 20_000 - 950
        assert wallet(database, card) == 1000
        assert derived_balance(database, "operator:sales:USD") == 1000  # sales see the full face value
        assert derived_balance(database, "operator:dealer_commission:USD") == -50
        with database.reading() as session:
            order = session.get(TopupOrder, sale["order_id"])
            sms = session.scalars(select(Notification)).one()
        assert order is not None
        assert (order.channel, order.payment_method, order.status) == ("pos", "dealer", "fulfilled")
        assert order.id in sms.body
        assert sms.phone == card.phone
        # The card holder sees it like any other recharge.
        auth = sign_in(client, card.card_number)
        assert client.get(f"/api/v1/topups/{order.id}", headers=auth).json()["channel"] == "pos"
        assert_books_balance(database)

    def test_the_sale_can_be_read_back_by_its_external_id(
        self, client: TestClient, dealer: MadeDealer, card: Card
    ) -> None:
        created = Till(client, dealer).post(PATH, topup_body(card)).json()
        found = Till(client, dealer).get(f"{PATH}/till-7-0001")
        assert found.status_code == 200
        assert found.json() == created
        missing = Till(client, dealer).get(f"{PATH}/till-7-9999")
        assert (missing.status_code, missing.json()["code"]) == (404, "pos_topup_not_found")

    def test_another_dealers_sale_is_not_found(
        self, database: Database, client: TestClient, dealer: MadeDealer, card: Card
    ) -> None:
        Till(client, dealer).post(PATH, topup_body(card))
        other = make_dealer(database)
        assert Till(client, other).get(f"{PATH}/till-7-0001").status_code == 404

    def test_a_custom_amount_in_cny_is_priced_by_the_catalogue(
        self, database: Database, client: TestClient, card: Card
    ) -> None:
        dealer = make_dealer(database, currency="CNY", commission_bps=300, float_amount=100_000)
        body = topup_body(card, product_id="balance-custom", amount=1234)
        response = Till(client, dealer).post(PATH, body)
        assert response.status_code == 201, response.text
        assert response.json()["face_value"] == {"amount": 8885, "currency": "CNY"}  # 12.34 USD at 7.20
        assert response.json()["commission"] == {"amount": 266, "currency": "CNY"}  # 3%, rounded down
        assert float_balance(database, dealer) == 100_000 - (8885 - 266)
        assert wallet(database, card) == 1234
        assert_books_balance(database)


class TestRefusals:
    @pytest.mark.parametrize(
        ("case", "status_code", "code"),
        [
            ("insufficient float", 402, "insufficient_float"),
            ("unknown card", 404, "pos_card_not_found"),
            ("suspended card", 409, "card_not_active"),
            ("invalid card number", 422, "validation_failed"),
            ("unknown product", 422, "validation_failed"),
            ("missing external id", 422, "validation_failed"),
            ("extra field", 422, "validation_failed"),
        ],
    )
    def test_refused_top_ups_move_nothing(
        self,
        database: Database,
        client: TestClient,
        dealer: MadeDealer,
        card: Card,
        case: str,
        status_code: int,
        code: str,
    ) -> None:
        body = topup_body(card)
        if case == "insufficient float":
            body.update(product_id="balance-custom", amount=50_000)
        elif case == "unknown card":
            body["card_number"] = "89103900000000000015"
        elif case == "suspended card":
            with database.transaction() as session:
                row = session.get(Card, card.id)
                assert row is not None
                row.status = "suspended"
        elif case == "invalid card number":
            body["card_number"] = "89103900000000000016"
        elif case == "unknown product":
            body["product_id"] = "no-such-product"
        elif case == "missing external id":
            body.pop("external_id")
        elif case == "extra field":
            body["tip"] = 1

        response = Till(client, dealer).post(PATH, body)

        assert (response.status_code, response.json()["code"]) == (status_code, code), response.text
        assert float_balance(database, dealer) == 20_000
        assert wallet(database, card) == 0
        assert count_rows(database, TopupOrder) == 0
        assert count_rows(database, DealerSale) == 0
        assert count_rows(database, LedgerTransfer, LedgerTransfer.reason != "dealer_credit") == 0
        # The refused external id is free to use again once the problem is fixed.
        if case == "insufficient float":
            retry = Till(client, dealer).post(PATH, topup_body(card))
            assert retry.status_code == 201, retry.text


class TestIdempotency:
    def test_a_retry_replays_the_first_answer_and_another_body_is_a_conflict(
        self, database: Database, client: TestClient, dealer: MadeDealer, card: Card
    ) -> None:
        till = Till(client, dealer)
        first = till.post(PATH, topup_body(card))
        again = till.post(PATH, topup_body(card))  # re-signed with a new nonce, as a till retries
        assert again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        other = till.post(PATH, topup_body(card, product_id="balance-30"))
        assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")
        assert float_balance(database, dealer) == 20_000 - 950
        assert count_rows(database, TopupOrder) == 1

    def test_parallel_retries_of_one_sale_debit_the_float_once(
        self, database: Database, client: TestClient, dealer: MadeDealer, card: Card
    ) -> None:
        body = topup_body(card, external_id="till-7-race")
        row = dealer_row(database, dealer)

        def attempt(_: int) -> str:
            with database.transaction() as session:

                def make() -> tuple[int, dict[str, Any]]:
                    sale, order = sales.topup(session, row, **body)
                    return 201, {"order_id": order.id, "sale": sale.id}

                stored = idempotency.run_once(
                    session,
                    scope=f"dealer:{row.id}:pos",
                    key=body["external_id"],
                    fingerprint=idempotency.request_fingerprint("POST", PATH, body),
                    create=make,
                )
                return str(stored.body["order_id"])

        results = run_in_parallel(16, attempt)
        assert [r for r in results if isinstance(r, Exception)] == []
        assert len(set(results)) == 1
        assert count_rows(database, TopupOrder) == 1
        assert count_rows(database, DealerSale) == 1
        assert float_balance(database, dealer) == 20_000 - 950
        assert wallet(database, card) == 1000
        assert count_rows(database, Notification) == 1
        assert_books_balance(database)

    def test_parallel_sales_never_overdraw_the_float(
        self, database: Database, client: TestClient, card: Card
    ) -> None:
        dealer = make_dealer(database, commission_bps=0, float_amount=3_500)  # room for three $10 sales
        row = dealer_row(database, dealer)

        def attempt(index: int) -> str:
            with database.transaction() as session:
                _, order = sales.topup(session, row, **topup_body(card, external_id=f"rush-{index}"))
                return order.status

        results = run_in_parallel(8, attempt)
        assert results.count(TopupStatus.FULFILLED.value) == 3
        assert {type(r).__name__ for r in results if isinstance(r, Exception)} == {"InsufficientFloat"}
        assert float_balance(database, dealer) == 500
        assert wallet(database, card) == 3000
        assert_books_balance(database)


def orm_statements(database: Database) -> list[str]:
    """Statements SQLAlchemy sends on the engine from now on (the lean path sends none through it)."""
    seen: list[str] = []
    event.listen(database.engine, "before_cursor_execute", lambda *args: seen.append(str(args[2])))
    return seen


class TestOnTheLeanPath:
    """One `database.tx()` per sale, hand-written SQL only, the answer built from what was written."""

    def test_a_sale_is_a_fixed_few_statements_and_no_orm(
        self, database: Database, client: TestClient, dealer: MadeDealer, card: Card, monkeypatch: Any
    ) -> None:
        till = Till(client, dealer)
        assert till.post(PATH, topup_body(card, "lean-0")).status_code == 201  # operator accounts known
        statements = record_statements(monkeypatch)
        orm = orm_statements(database)
        response = till.post(PATH, topup_body(card, "lean-1"))
        assert response.status_code == 201, response.text
        assert orm == []
        assert len(statements) == (SQLITE_SALE if database.is_sqlite else PG_SALE), [
            s[:50] for s in statements
        ]
        assert wallet(database, card) == 2000
        # The answer is what a read of the stored sale answers.
        assert till.get(f"{PATH}/lean-1").json() == response.json()
        assert_books_balance(database)


# A top-up at the till: the dealer and the nonce, the savepoint, the key's claim; the sale (external id,
# card, product, the live campaigns (POS promotions), float, two transfers, the paid order, the sale row);
# the fulfilment; the key's answer.
PG_SALE = 23
SQLITE_SALE = 27
