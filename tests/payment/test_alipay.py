"""Alipay, offline and protocol-faithful: RSA2 keys made here, requests verified by a fake Alipay,
notifications signed the way Alipay signs them, posted through the app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from roamcard.db import Database
from roamcard.kit import clock
from tests.payment.flows import (
    MOBILE,
    books_balance,
    drain,
    held,
    inbox,
    order_topup,
    payment_of,
    refunds_of,
    signed_in,
    statuses,
    wallet,
)
from tests.payment.gateways import FORM, FakeAlipay, installed


@pytest.fixture
def alipay() -> Iterator[FakeAlipay]:
    with installed(FakeAlipay()) as fake:
        yield fake


def post(client: TestClient, body: bytes) -> tuple[int, str]:
    response = client.post("/webhooks/alipay", content=body, headers=FORM)
    return response.status_code, response.text


class TestCheckout:
    def test_desktop_gets_a_qr_code_and_the_cashier_page(
        self, database: Database, client: TestClient, alipay: FakeAlipay
    ) -> None:
        _, auth = signed_in(database, client)
        created = order_topup(client, auth, "alipay")
        assert created.status_code == 201, created.text
        payment = created.json()["payment"]
        assert payment["status"] == "pending"
        assert payment["qr_code"].startswith("https://qr.alipay.com/")
        assert payment["checkout_url"].startswith(alipay.url + "?")
        assert "method=alipay.trade.page.pay" in payment["checkout_url"]
        assert alipay.calls == ["alipay.trade.precreate"]
        replay = order_topup(client, auth, "alipay")
        assert replay.json() == created.json()
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert alipay.calls == ["alipay.trade.precreate"]

    def test_mobile_is_redirected_to_the_wap_cashier_without_a_call(
        self, database: Database, client: TestClient, alipay: FakeAlipay
    ) -> None:
        _, auth = signed_in(database, client)
        payment = order_topup(client, auth, "alipay", user_agent=MOBILE).json()["payment"]
        assert "method=alipay.trade.wap.pay" in payment["checkout_url"]
        assert payment["qr_code"] is None
        assert alipay.calls == []

    def test_usd_is_not_offered(self, database: Database, client: TestClient, alipay: FakeAlipay) -> None:
        _, auth = signed_in(database, client)
        refused = order_topup(client, auth, "alipay", currency="USD")
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == "currency"


class TestNotification:
    def test_accepted_and_credited_once(
        self, database: Database, client: TestClient, alipay: FakeAlipay
    ) -> None:
        card_id, auth = signed_in(database, client)
        order = order_topup(client, auth, "alipay").json()
        payment = payment_of(database, order["id"])
        alipay.pay(payment.id)
        body = alipay.notification(payment)
        assert post(client, body) == (200, "success")
        assert post(client, body) == (200, "success")  # Alipay repeats until it reads "success"
        drain(database)
        assert statuses(database, order["id"]) == ("fulfilled", "succeeded")
        assert wallet(database, card_id) == 1000
        assert (
            payment_of(database, order["id"]).provider_transaction_id == alipay.trades[payment.id]["trade_no"]
        )
        assert inbox(database) == 1
        # TRADE_FINISHED comes later under another notify_id: harmless.
        assert post(client, alipay.notification(payment, trade_status="TRADE_FINISHED"))[0] == 200
        drain(database)
        assert wallet(database, card_id) == 1000
        assert books_balance(database)

    @pytest.mark.parametrize(
        ("case", "status"),
        [
            ("tampered_body", 400),
            ("wrong_key", 400),
            ("unsigned", 400),
            ("wrong_app_id", 400),
            ("wrong_seller_id", 400),
            ("wrong_amount", 200),
            ("unknown_order", 404),
            ("not_a_form", 400),
        ],
    )
    def test_rejected_and_nothing_changed(
        self, database: Database, client: TestClient, alipay: FakeAlipay, case: str, status: int
    ) -> None:
        card_id, auth = signed_in(database, client)
        order = order_topup(client, auth, "alipay").json()
        payment = payment_of(database, order["id"])
        body = alipay.notification(payment)
        if case == "tampered_body":
            body = body.replace(b"total_amount=72.00", b"total_amount=0.01")
        elif case == "wrong_key":
            body = alipay.notification(payment, signer=alipay.stranger())
        elif case == "unsigned":
            body = b"&".join(p for p in body.split(b"&") if not p.startswith(b"sign="))
        elif case == "wrong_app_id":
            body = alipay.notification(payment, app_id="2021000000000999")
        elif case == "wrong_seller_id":
            body = alipay.notification(payment, seller_id="2088999999999999")
        elif case == "wrong_amount":
            body = alipay.notification(payment, total_amount="7.20")
        elif case == "unknown_order":
            body = alipay.notification(payment, out_trade_no="pay_doesnotexist0000000")
        elif case == "not_a_form":
            body = b'{"trade_status": "TRADE_SUCCESS"}'
        code, text = post(client, body)
        assert code == status
        # An amount mismatch is acknowledged (so Alipay stops retrying) and held for staff.
        assert (text == "success") == (case == "wrong_amount")
        drain(database)
        assert held(database) == (1 if case == "wrong_amount" else 0)
        assert inbox(database) == held(database)
        assert statuses(database, order["id"]) == ("pending_payment", "pending")
        assert wallet(database, card_id) == 0

    def test_closed_after_success_does_not_move_it_back(
        self, database: Database, client: TestClient, alipay: FakeAlipay
    ) -> None:
        card_id, auth = signed_in(database, client)
        order = order_topup(client, auth, "alipay").json()
        payment = payment_of(database, order["id"])
        alipay.pay(payment.id)
        for status in ("TRADE_SUCCESS", "TRADE_CLOSED", "WAIT_BUYER_PAY"):
            assert post(client, alipay.notification(payment, trade_status=status))[0] == 200
        drain(database)
        assert statuses(database, order["id"]) == ("fulfilled", "succeeded")
        assert wallet(database, card_id) == 1000


class TestUnknownOutcomes:
    def test_timeout_leaves_it_unknown_and_the_sweeper_settles_it(
        self, database: Database, client: TestClient, alipay: FakeAlipay, frozen_clock: clock.FrozenClock
    ) -> None:
        card_id, auth = signed_in(database, client)
        alipay.down = True
        created = order_topup(client, auth, "alipay")
        assert created.status_code == 201
        assert created.json()["status"] == "unknown"
        assert created.json()["payment"]["qr_code"] is None
        order_id = created.json()["id"]
        # Alipay did make the trade, and the payer paid it (say, from a QR shown before a crash).
        payment = payment_of(database, order_id)
        alipay.down = False
        alipay.trades[payment.id] = {"status": "WAIT_BUYER_PAY", "total_amount": "72.00"}
        alipay.pay(payment.id)
        frozen_clock.advance(minutes=5)
        drain(database)
        assert statuses(database, order_id) == ("fulfilled", "succeeded")
        assert wallet(database, card_id) == 1000
        assert "alipay.trade.query" in alipay.calls
        assert books_balance(database)

    def test_still_down_keeps_asking(
        self, database: Database, client: TestClient, alipay: FakeAlipay, frozen_clock: clock.FrozenClock
    ) -> None:
        _, auth = signed_in(database, client)
        alipay.down = True
        order_id = order_topup(client, auth, "alipay").json()["id"]
        for _ in range(3):
            frozen_clock.advance(hours=2)
            drain(database)
            assert statuses(database, order_id) == ("unknown", "unknown")
        alipay.down = False  # the trade never existed at Alipay: nobody could have paid it
        frozen_clock.advance(hours=2)
        drain(database)
        assert statuses(database, order_id) == ("failed", "failed")


class TestLatePayment:
    def test_paid_after_expiry_is_refunded_automatically(
        self, database: Database, client: TestClient, alipay: FakeAlipay, frozen_clock: clock.FrozenClock
    ) -> None:
        card_id, auth = signed_in(database, client)
        order_id = order_topup(client, auth, "alipay").json()["id"]
        frozen_clock.advance(hours=1)
        drain(database, sweep=True)  # the sweeper expires the order and closes the trade at Alipay
        assert statuses(database, order_id) == ("expired", "expired")
        assert "alipay.trade.close" in alipay.calls
        payment = payment_of(database, order_id)
        alipay.pay(payment.id)  # ...but the payer's app had it open and paid anyway
        assert post(client, alipay.notification(payment)) == (200, "success")
        drain(database)
        assert statuses(database, order_id) == ("expired", "succeeded")
        assert wallet(database, card_id) == 0
        [refund] = refunds_of(database, order_id)
        assert (refund.kind, refund.status, refund.amount) == ("late_payment", "succeeded", 7200)
        assert alipay.refunds == {refund.id: "72.00"}
        assert books_balance(database)
