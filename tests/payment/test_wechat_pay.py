"""WeChat Pay API v3 in public-key mode, offline: keys and the APIv3 key made here; a fake WeChat Pay
checks our signed requests and answers signed; notifications are signed over
"{timestamp}\\n{nonce}\\n{body}\\n" with the platform key and carry an AES-256-GCM resource."""

from __future__ import annotations

import time
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
from tests.payment.gateways import FakeWeChatPay, installed, rsa_pair


@pytest.fixture
def wechat() -> Iterator[FakeWeChatPay]:
    with installed(FakeWeChatPay()) as fake:
        yield fake


def post(client: TestClient, wechat: FakeWeChatPay, body: bytes, **sign: object) -> int:
    headers = wechat.signature_headers(body.decode(), **sign)  # type: ignore[arg-type]
    return client.post("/webhooks/wechat_pay", content=body, headers=headers).status_code


class TestCheckout:
    def test_desktop_gets_a_native_code_url_to_show_as_qr(
        self, database: Database, client: TestClient, wechat: FakeWeChatPay
    ) -> None:
        _, auth = signed_in(database, client)
        created = order_topup(client, auth, "wechat_pay")
        assert created.status_code == 201, created.text
        payment = created.json()["payment"]
        assert payment["qr_code"].startswith("weixin://wxpay/bizpayurl?pr=")
        assert payment["checkout_url"] == f"http://testserver/pay/{payment['id']}"
        assert wechat.calls == ["POST /v3/pay/transactions/native"]
        page = client.get(f"/pay/{payment['id']}")
        assert page.status_code == 200
        assert "<svg" in page.text

    def test_mobile_browser_gets_h5(
        self, database: Database, client: TestClient, wechat: FakeWeChatPay
    ) -> None:
        _, auth = signed_in(database, client)
        payment = order_topup(client, auth, "wechat_pay", user_agent=MOBILE).json()["payment"]
        assert payment["checkout_url"].startswith("https://wx.tenpay.com/")
        assert "redirect_url=http%3A%2F%2Ftestserver%2Ftopups%2F" in payment["checkout_url"]
        assert payment["qr_code"] is None
        assert wechat.calls == ["POST /v3/pay/transactions/h5"]

    def test_an_answer_not_signed_by_the_platform_key_is_not_trusted(
        self, database: Database, client: TestClient, wechat: FakeWeChatPay
    ) -> None:
        _, auth = signed_in(database, client)
        wechat.platform_private, _ = rsa_pair()  # someone in the middle answers
        created = order_topup(client, auth, "wechat_pay")
        assert created.json()["status"] == "unknown"
        assert created.json()["payment"]["qr_code"] is None


class TestNotification:
    def test_accepted_and_credited_once(
        self, database: Database, client: TestClient, wechat: FakeWeChatPay
    ) -> None:
        card_id, auth = signed_in(database, client)
        order_id = order_topup(client, auth, "wechat_pay").json()["id"]
        payment = payment_of(database, order_id)
        transaction_id = wechat.pay(payment.id)
        body = wechat.notification(wechat.transaction(payment))
        assert post(client, wechat, body) == 204
        assert post(client, wechat, body) == 204  # WeChat Pay retries: harmless
        drain(database)
        assert statuses(database, order_id) == ("fulfilled", "succeeded")
        assert wallet(database, card_id) == 1000
        assert payment_of(database, order_id).provider_transaction_id == transaction_id
        assert inbox(database) == 1
        assert books_balance(database)

    @pytest.mark.parametrize(
        ("case", "status"),
        [
            ("tampered_body", 400),
            ("wrong_key", 400),
            ("unknown_serial", 400),
            ("stale_timestamp", 400),
            ("future_timestamp", 400),
            ("wrong_apiv3_key", 400),
            ("wrong_mchid", 400),
            ("wrong_appid", 400),
            ("wrong_amount", 204),
            ("unknown_order", 404),
        ],
    )
    def test_rejected_and_nothing_changed(
        self, database: Database, client: TestClient, wechat: FakeWeChatPay, case: str, status: int
    ) -> None:
        card_id, auth = signed_in(database, client)
        order_id = order_topup(client, auth, "wechat_pay").json()["id"]
        payment = payment_of(database, order_id)
        resource = wechat.transaction(payment)
        body = wechat.notification(resource)
        sign: dict[str, object] = {}
        if case == "tampered_body":
            headers = wechat.signature_headers(body.decode())
            body = body.replace(b'"TRANSACTION.SUCCESS"', b'"TRANSACTION.SUCCESS" ')
            code = client.post("/webhooks/wechat_pay", content=body, headers=headers).status_code
        else:
            if case == "wrong_key":
                sign["key"] = rsa_pair()[0]
            elif case == "unknown_serial":
                sign["serial"] = "PUB_KEY_ID_0000000000000000000000000000"
            elif case == "stale_timestamp":
                sign["timestamp"] = int(time.time()) - 360
            elif case == "future_timestamp":
                sign["timestamp"] = int(time.time()) + 360
            elif case == "wrong_apiv3_key":
                body = wechat.notification(resource, apiv3_key="0" * 32)
            elif case == "wrong_mchid":
                body = wechat.notification(wechat.transaction(payment, mchid="1900000999"))
            elif case == "wrong_appid":
                body = wechat.notification(wechat.transaction(payment, appid="wx0000000000000000"))
            elif case == "wrong_amount":
                body = wechat.notification(
                    wechat.transaction(payment, amount={"total": 1, "payer_total": 1, "currency": "CNY"})
                )
            elif case == "unknown_order":
                body = wechat.notification(
                    wechat.transaction(payment, out_trade_no="pay_nosuchpayment000000")
                )
            code = post(client, wechat, body, **sign)
        assert code == status
        drain(database)
        # An amount mismatch is acknowledged (so the gateway stops retrying) and held for staff.
        assert held(database) == (1 if status == 204 else 0)
        assert inbox(database) == held(database)
        assert statuses(database, order_id) == ("pending_payment", "pending")
        assert wallet(database, card_id) == 0

    def test_out_of_order_and_repeated_deliveries(
        self, database: Database, client: TestClient, wechat: FakeWeChatPay
    ) -> None:
        card_id, auth = signed_in(database, client)
        order_id = order_topup(client, auth, "wechat_pay").json()["id"]
        payment = payment_of(database, order_id)
        wechat.pay(payment.id)
        success = wechat.notification(wechat.transaction(payment), event_id="EV-1")
        for body in (success, wechat.notification(wechat.transaction(payment), event_id="EV-2"), success):
            assert post(client, wechat, body) == 204
        drain(database)
        assert wallet(database, card_id) == 1000
        assert inbox(database) == 2


class TestUnknownOutcomes:
    def test_timeout_leaves_it_unknown_and_the_sweeper_settles_it(
        self, database: Database, client: TestClient, wechat: FakeWeChatPay, frozen_clock: clock.FrozenClock
    ) -> None:
        card_id, auth = signed_in(database, client)
        wechat.down = True
        created = order_topup(client, auth, "wechat_pay")
        assert (created.status_code, created.json()["status"]) == (201, "unknown")
        order_id = created.json()["id"]
        payment = payment_of(database, order_id)
        wechat.down = False
        wechat.trades[payment.id] = {"trade_state": "NOTPAY", "amount": {"total": 7200, "currency": "CNY"}}
        frozen_clock.advance(minutes=5)
        drain(database)
        assert statuses(database, order_id) == ("pending_payment", "pending")  # open at WeChat Pay
        wechat.pay(payment.id)
        assert post(client, wechat, wechat.notification(wechat.transaction(payment))) == 204
        drain(database)
        assert statuses(database, order_id) == ("fulfilled", "succeeded")
        assert wallet(database, card_id) == 1000


class TestRefunds:
    def test_late_payment_is_refunded_and_the_refund_notification_completes_it(
        self, database: Database, client: TestClient, wechat: FakeWeChatPay, frozen_clock: clock.FrozenClock
    ) -> None:
        card_id, auth = signed_in(database, client)
        order_id = order_topup(client, auth, "wechat_pay").json()["id"]
        frozen_clock.advance(hours=1)
        drain(database, sweep=True)
        assert statuses(database, order_id) == ("expired", "expired")
        payment = payment_of(database, order_id)
        assert f"POST /v3/pay/transactions/out-trade-no/{payment.id}/close" in wechat.calls
        wechat.pay(payment.id)
        assert post(client, wechat, wechat.notification(wechat.transaction(payment))) == 204
        drain(database)
        [refund] = refunds_of(database, order_id)
        assert (refund.kind, refund.status) == ("late_payment", "processing")  # WeChat Pay: PROCESSING
        remote = wechat.refunds[refund.id]
        remote["status"] = "SUCCESS"
        notice = {
            "mchid": wechat.mchid,
            "out_trade_no": payment.id,
            "transaction_id": wechat.trades[payment.id]["transaction_id"],
            "out_refund_no": refund.id,
            "refund_id": remote["refund_id"],
            "refund_status": "SUCCESS",
            "success_time": "2026-11-25T13:00:00+08:00",
            "user_received_account": "支付用户零钱",
            "amount": {"total": 7200, "refund": 7200, "payer_total": 7200, "payer_refund": 7200},
        }
        body = wechat.notification(notice, event_type="REFUND.SUCCESS", associated_data="refund")
        assert post(client, wechat, body) == 204
        assert post(client, wechat, body) == 204
        drain(database)
        [refund] = refunds_of(database, order_id)
        assert refund.status == "succeeded"
        assert refund.provider_reference == remote["refund_id"]
        assert wallet(database, card_id) == 0
        assert books_balance(database)

    def test_refund_still_processing_is_settled_by_query(
        self, database: Database, client: TestClient, wechat: FakeWeChatPay, frozen_clock: clock.FrozenClock
    ) -> None:
        _, auth = signed_in(database, client)
        order_id = order_topup(client, auth, "wechat_pay").json()["id"]
        frozen_clock.advance(hours=1)
        drain(database, sweep=True)
        payment = payment_of(database, order_id)
        wechat.pay(payment.id)
        post(client, wechat, wechat.notification(wechat.transaction(payment)))
        drain(database)
        [refund] = refunds_of(database, order_id)
        wechat.refunds[refund.id]["status"] = "SUCCESS"
        frozen_clock.advance(minutes=2)
        drain(database)
        assert refunds_of(database, order_id)[0].status == "succeeded"
        assert books_balance(database)
