"""Cards through Stripe Checkout, offline: a fake Stripe API on respx (idempotency keys replayed as
Stripe does), webhooks signed with the SDK's own `WebhookSignature.generate_signature_header`."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from roamcard.db import Database
from roamcard.kit import clock
from tests.payment.flows import (
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
from tests.payment.gateways import FakeStripe, installed


@pytest.fixture
def stripe_api() -> Iterator[FakeStripe]:
    with installed(FakeStripe()) as fake:
        yield fake


def post(client: TestClient, fake: FakeStripe, body: bytes, **sign: object) -> int:
    return client.post("/webhooks/stripe", content=body, headers=fake.headers(body, **sign)).status_code  # type: ignore[arg-type]


class TestCheckout:
    def test_card_opens_a_hosted_checkout_session(
        self, database: Database, client: TestClient, stripe_api: FakeStripe
    ) -> None:
        _, auth = signed_in(database, client)
        created = order_topup(client, auth, "card", currency="USD")
        assert created.status_code == 201, created.text
        payment = created.json()["payment"]
        assert payment["provider"] == "stripe"
        assert payment["checkout_url"].startswith("https://checkout.stripe.com/c/pay/cs_test_")
        session = stripe_api.session_of(payment["id"])
        assert (session["amount_total"], session["currency"]) == (1000, "usd")
        assert stripe_api.replays.keys() == {f"roamcard-checkout-{payment['id']}"}


class TestNotification:
    def test_checkout_completed_is_credited_once(
        self, database: Database, client: TestClient, stripe_api: FakeStripe
    ) -> None:
        card_id, auth = signed_in(database, client)
        order_id = order_topup(client, auth, "card", currency="USD").json()["id"]
        payment = payment_of(database, order_id)
        completed = stripe_api.event("checkout.session.completed", stripe_api.pay(payment.id))
        assert post(client, stripe_api, completed) == 200
        assert post(client, stripe_api, completed) == 200
        session = stripe_api.session_of(payment.id)
        intent = {
            "id": session["payment_intent"],
            "object": "payment_intent",
            "amount": 1000,
            "amount_received": 1000,
            "currency": "usd",
            "status": "succeeded",
            "metadata": {"payment_id": payment.id, "order_id": order_id},
        }
        assert post(client, stripe_api, stripe_api.event("payment_intent.succeeded", intent)) == 200
        drain(database)
        assert statuses(database, order_id) == ("fulfilled", "succeeded")
        assert wallet(database, card_id) == 1000
        assert payment_of(database, order_id).provider_transaction_id == session["payment_intent"]
        assert inbox(database) == 2
        assert books_balance(database)

    @pytest.mark.parametrize(
        ("case", "status"),
        [
            ("tampered_body", 400),
            ("wrong_secret", 400),
            ("unsigned", 400),
            ("stale_timestamp", 400),
            ("future_timestamp", 400),
            ("connected_account", 400),
            ("live_event", 400),
            ("wrong_amount", 200),
            ("wrong_currency", 200),
            ("unknown_order", 404),
        ],
    )
    def test_rejected_and_nothing_changed(
        self, database: Database, client: TestClient, stripe_api: FakeStripe, case: str, status: int
    ) -> None:
        card_id, auth = signed_in(database, client)
        order_id = order_topup(client, auth, "card", currency="USD").json()["id"]
        payment = payment_of(database, order_id)
        session = stripe_api.pay(payment.id)
        body = stripe_api.event("checkout.session.completed", session)
        headers = stripe_api.headers(body)
        if case == "tampered_body":
            body = body.replace(b'"amount_total": 1000', b'"amount_total": 1000 ')
        elif case == "wrong_secret":
            headers = stripe_api.headers(body, secret="whsec_not_ours")
        elif case == "unsigned":
            headers.pop("Stripe-Signature")
        elif case == "stale_timestamp":
            headers = stripe_api.headers(body, timestamp=int(time.time()) - 360)
        elif case == "future_timestamp":
            headers = stripe_api.headers(body, timestamp=int(time.time()) + 360)
        else:
            if case == "connected_account":
                body = stripe_api.event("checkout.session.completed", session, account="acct_someone")
            elif case == "live_event":
                body = stripe_api.event("checkout.session.completed", session, livemode=True)
            elif case == "wrong_amount":
                body = stripe_api.event("checkout.session.completed", {**session, "amount_total": 1})
            elif case == "wrong_currency":
                body = stripe_api.event("checkout.session.completed", {**session, "currency": "cny"})
            elif case == "unknown_order":
                body = stripe_api.event(
                    "checkout.session.completed", {**session, "client_reference_id": "pay_nosuchpayment00000"}
                )
            headers = stripe_api.headers(body)
        assert client.post("/webhooks/stripe", content=body, headers=headers).status_code == status
        drain(database)
        # An amount mismatch is acknowledged (so the gateway stops retrying) and held for staff.
        assert held(database) == (1 if status == 200 else 0)
        assert inbox(database) == held(database)
        assert statuses(database, order_id) == ("pending_payment", "pending")
        assert wallet(database, card_id) == 0

    def test_a_declined_card_does_not_fail_the_payment_and_expiry_does(
        self, database: Database, client: TestClient, stripe_api: FakeStripe
    ) -> None:
        _, auth = signed_in(database, client)
        order_id = order_topup(client, auth, "card", currency="USD").json()["id"]
        payment = payment_of(database, order_id)
        declined = {"id": "pi_1", "object": "payment_intent", "amount": 1000, "currency": "usd"}
        declined["metadata"] = {"payment_id": payment.id}  # type: ignore[assignment]
        assert post(client, stripe_api, stripe_api.event("payment_intent.payment_failed", declined)) == 200
        drain(database)
        assert statuses(database, order_id) == ("pending_payment", "pending")
        expired = {**stripe_api.session_of(payment.id), "status": "expired"}
        assert post(client, stripe_api, stripe_api.event("checkout.session.expired", expired)) == 200
        drain(database)
        assert statuses(database, order_id) == ("failed", "failed")


class TestUnknownOutcomes:
    def test_timeout_is_settled_by_sending_the_same_create_again(
        self, database: Database, client: TestClient, stripe_api: FakeStripe, frozen_clock: clock.FrozenClock
    ) -> None:
        _, auth = signed_in(database, client)
        stripe_api.down = True
        created = order_topup(client, auth, "card", currency="USD")
        assert (created.status_code, created.json()["status"]) == (201, "unknown")
        order_id = created.json()["id"]
        stripe_api.down = False
        frozen_clock.advance(minutes=5)
        drain(database)
        assert statuses(database, order_id) == ("pending_payment", "pending")
        payment = payment_of(database, order_id)
        assert payment.checkout_url == stripe_api.session_of(payment.id)["url"]
        assert payment.provider_reference == stripe_api.session_of(payment.id)["id"]


class TestRefunds:
    def test_late_payment_is_refunded_automatically(
        self, database: Database, client: TestClient, stripe_api: FakeStripe, frozen_clock: clock.FrozenClock
    ) -> None:
        card_id, auth = signed_in(database, client)
        order_id = order_topup(client, auth, "card", currency="USD").json()["id"]
        payment = payment_of(database, order_id)
        frozen_clock.advance(hours=1)
        drain(database, sweep=True)  # the sweeper asked Stripe (still open), expired it and closed it...
        assert statuses(database, order_id) == ("expired", "expired")
        session = stripe_api.pay(payment.id)  # ...but a payment landed anyway, and its webhook arrives
        assert post(client, stripe_api, stripe_api.event("checkout.session.completed", session)) == 200
        drain(database)
        [refund] = refunds_of(database, order_id)
        assert (refund.kind, refund.status, refund.amount) == ("late_payment", "succeeded", 1000)
        [remote] = stripe_api.refunds.values()
        assert remote["payment_intent"] == session["payment_intent"]
        assert remote["metadata"]["refund_id"] == refund.id
        assert wallet(database, card_id) == 0
        assert books_balance(database)
