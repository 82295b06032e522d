from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from roamcard.db import Database
from roamcard.kit.clock import FrozenClock
from roamcard.models import Card, DealerSale, Voucher
from roamcard.topup.states import Channel
from roamcard.voucher import service as voucher_service
from roamcard.voucher.states import RangeAction
from tests.dealer.support import MadeDealer, Till, dealer_row, float_balance, make_dealer
from tests.dealer.test_pos_topups import orm_statements
from tests.factories import make_card, make_catalog
from tests.payment.test_sandbox_webhook import run_in_parallel
from tests.statements import record_statements
from tests.voucher.support import (
    MadeBatch,
    assert_books_balance,
    change,
    count_rows,
    derived_balance,
    liability,
    make_batch,
)

PATH = "/api/v1/pos/vouchers/sell"


@pytest.fixture
def dealer(database: Database) -> MadeDealer:
    return make_dealer(database, commission_bps=800, float_amount=10_000)


@pytest.fixture
def batch(database: Database) -> MadeBatch:
    return make_batch(database, count=5, face_value=5000, activate=False)


def status_of(database: Database, serial: str) -> str:
    with database.reading() as session:
        voucher = session.get(Voucher, serial)
        assert voucher is not None
        return voucher.status


class TestSelling:
    def test_selling_activates_one_voucher_paid_from_the_float(
        self, database: Database, client: TestClient, dealer: MadeDealer, batch: MadeBatch
    ) -> None:
        response = Till(client, dealer).post(PATH, {"external_id": "sale-1", "serial": batch.serials[2]})
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["serial"], body["status"]) == (batch.serials[2], "active")
        assert (
            body["face_value"]["amount"],
            body["commission"]["amount"],
            body["net_debited"]["amount"],
        ) == (
            5000,
            400,
            4600,
        )
        assert [status_of(database, s) for s in batch.serials] == ["generated"] * 2 + ["active"] + [
            "generated"
        ] * 2
        assert float_balance(database, dealer) == 10_000 - 4600
        assert liability(database) == 5000  # the full face value is owed to whoever redeems it
        assert derived_balance(database, "operator:dealer_commission:USD") == -400
        with database.reading() as session:
            voucher = session.get(Voucher, batch.serials[2])
            assert voucher is not None
            assert voucher.sold_by_dealer_id == dealer.id
        assert_books_balance(database)
        # The sold card now redeems like any other.
        with database.transaction() as session:
            make_catalog(session)
            card = make_card(session)
        with database.transaction() as session:
            order = voucher_service.redeem(
                session, card, batch.pin(2), channel=Channel.VOUCHER, client_key="192.0.2.1"
            )
            assert order.status == "fulfilled"
        assert liability(database) == 0
        assert_books_balance(database)

    def test_a_retry_replays_and_selling_the_card_again_is_refused(
        self, database: Database, client: TestClient, dealer: MadeDealer, batch: MadeBatch
    ) -> None:
        till = Till(client, dealer)
        first = till.post(PATH, {"external_id": "sale-1", "serial": batch.serials[0]})
        again = till.post(PATH, {"external_id": "sale-1", "serial": batch.serials[0]})
        assert (again.status_code, again.json()) == (201, first.json())
        twice = till.post(PATH, {"external_id": "sale-2", "serial": batch.serials[0]})
        assert (twice.status_code, twice.json()["code"]) == (409, "voucher_already_active")
        assert float_balance(database, dealer) == 10_000 - 4600
        assert count_rows(database, DealerSale) == 1

    def test_two_tills_selling_the_same_card_at_once_sell_it_once(
        self, database: Database, dealer: MadeDealer, batch: MadeBatch
    ) -> None:
        from roamcard.dealer.service import sales

        row = dealer_row(database, dealer)

        def attempt(index: int) -> str:
            with database.transaction() as session:
                sale, _ = sales.sell_voucher(
                    session, row, external_id=f"race-{index}", serial=batch.serials[1]
                )
                return sale.external_id

        results = run_in_parallel(4, attempt)
        assert len([r for r in results if isinstance(r, str)]) == 1, results
        assert float_balance(database, dealer) == 10_000 - 4600
        assert liability(database) == 5000
        assert_books_balance(database)


class TestRefusals:
    @pytest.mark.parametrize(
        ("case", "status_code", "code"),
        [
            ("unknown serial", 404, "voucher_not_found"),
            ("another dealer's batch", 404, "voucher_not_found"),
            ("blocked", 409, "pos_voucher_blocked"),
            ("redeemed", 409, "pos_voucher_redeemed"),
            ("expired", 409, "pos_voucher_expired"),
            ("other currency", 409, "pos_voucher_wrong_currency"),
            ("insufficient float", 402, "insufficient_float"),
            ("malformed serial", 422, "validation_failed"),
        ],
    )
    def test_refused_sales_move_nothing(
        self,
        database: Database,
        client: TestClient,
        dealer: MadeDealer,
        frozen_clock: FrozenClock,
        case: str,
        status_code: int,
        code: str,
    ) -> None:
        made = make_batch(database, count=2, face_value=5000, activate=False, expires_in_days=20)
        serial = made.serials[0]
        if case == "unknown serial":
            serial = made.serials[0][:-1] + "9"
        elif case == "another dealer's batch":
            other = make_dealer(database)
            serial = make_batch(database, count=1, activate=False, dealer_id=other.public_id).serials[0]
        elif case == "blocked":
            change(database, made, RangeAction.BLOCK, 0, 0)
        elif case == "redeemed":
            change(database, made, RangeAction.ACTIVATE, 0, 0)
            with database.transaction() as session:
                make_catalog(session)
                card: Card = make_card(session)
            with database.transaction() as session:
                voucher_service.redeem(session, card, made.pin(0), channel=Channel.VOUCHER, client_key="x")
        elif case == "expired":
            frozen_clock.advance(days=22)
        elif case == "other currency":
            serial = make_batch(database, count=1, currency="CNY", face_value=100, activate=False).serials[0]
        elif case == "insufficient float":
            serial = make_batch(database, count=1, face_value=20_000, activate=False).serials[0]
        elif case == "malformed serial":
            serial = "12345"
        liability_before = liability(database)
        status_before = (
            status_of(database, serial) if case not in ("unknown serial", "malformed serial") else None
        )

        response = Till(client, dealer).post(PATH, {"external_id": "sale-x", "serial": serial})

        assert (response.status_code, response.json()["code"]) == (status_code, code), response.text
        assert float_balance(database, dealer) == 10_000
        assert liability(database) == liability_before
        assert count_rows(database, DealerSale) == 0
        if status_before is not None:
            assert status_of(database, serial) == status_before
        assert_books_balance(database)

    def test_a_dealer_bound_batch_is_sold_by_its_dealer(
        self, database: Database, client: TestClient, dealer: MadeDealer
    ) -> None:
        made = make_batch(database, count=1, face_value=1000, activate=False, dealer_id=dealer.public_id)
        response = Till(client, dealer).post(PATH, {"external_id": "own", "serial": made.serials[0]})
        assert response.status_code == 201, response.text


class TestOnTheLeanPath:
    def test_a_voucher_sale_is_a_fixed_few_statements_and_no_orm(
        self, database: Database, client: TestClient, dealer: MadeDealer, batch: MadeBatch, monkeypatch: Any
    ) -> None:
        till = Till(client, dealer)
        first = till.post(PATH, {"external_id": "lean-0", "serial": batch.serials[0]})
        assert first.status_code == 201, first.text  # operator accounts now known
        statements = record_statements(monkeypatch)
        orm = orm_statements(database)
        response = till.post(PATH, {"external_id": "lean-1", "serial": batch.serials[1]})
        assert response.status_code == 201, response.text
        assert orm == []
        # The dealer and the nonce, the savepoint, the key's claim; the external id, the voucher and its
        # batch, generated -> active (and its history), the float, two transfers, the sale; the answer.
        assert len(statements) == (15 if database.is_sqlite else 14), [s[:50] for s in statements]
        assert status_of(database, batch.serials[1]) == "active"
        assert response.json()["expires_at"] == first.json()["expires_at"]
        assert_books_balance(database)
