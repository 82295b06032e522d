"""Nothing stays unknown, no notification is lost (issue 9 items 9 and 10), through a faked Stripe that
answers and signs as Stripe does: expiry asks first, "already paid" at close is a late payment, the
final sweep of payments still unknown, unhandled inbox events re-driven, mismatches held for staff."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import select, update

from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.kit import clock
from roamcard.models import InboxEvent, Job, Payment
from roamcard.topup.service.create import create_topup
from tests.backoffice.console import make_staff, sign_in
from tests.factories import make_card, make_catalog
from tests.payment.flows import (
    books_balance,
    drain,
    held,
    order_topup,
    payment_of,
    refunds_of,
    signed_in,
    statuses,
    wallet,
)
from tests.payment.gateways import FakeAlipay, FakeStripe, FakeWeChatPay, installed

EN = {"Accept-Language": "en"}


@pytest.fixture
def stripe_api() -> Iterator[FakeStripe]:
    with installed(FakeStripe()) as fake:
        yield fake


def post(client: TestClient, fake: FakeStripe, body: bytes) -> int:
    return client.post("/webhooks/stripe", content=body, headers=fake.headers(body)).status_code


def kill_jobs(database: Database, kind: str) -> None:
    """What 30 failed tries leave behind: the job is dead-lettered."""
    with database.transaction() as session:
        session.execute(update(Job).where(Job.kind == kind).values(status="dead"))


class TestExpiryAsksTheGatewayFirst:
    def test_a_payment_made_in_the_last_seconds_fulfils_instead_of_expiring(
        self, database: Database, client: TestClient, stripe_api: FakeStripe, frozen_clock: clock.FrozenClock
    ) -> None:
        card_id, auth = signed_in(database, client)
        order_id = order_topup(client, auth, "card", currency="USD").json()["id"]
        stripe_api.pay(payment_of(database, order_id).id)  # its webhook is still on the way
        frozen_clock.advance(hours=1)
        drain(database, sweep=True)
        assert statuses(database, order_id) == ("fulfilled", "succeeded")
        assert wallet(database, card_id) == 1000
        assert refunds_of(database, order_id) == []
        assert books_balance(database)

    def test_already_paid_at_close_is_recorded_as_a_late_payment_and_refunded(
        self, database: Database, client: TestClient, stripe_api: FakeStripe, frozen_clock: clock.FrozenClock
    ) -> None:
        card_id, auth = signed_in(database, client)
        order_id = order_topup(client, auth, "card", currency="USD").json()["id"]
        stripe_api.pay_on_expire = True  # paid between our query and our close: Stripe refuses the expire
        frozen_clock.advance(hours=1)
        drain(database, sweep=True)
        assert statuses(database, order_id) == ("expired", "succeeded")
        [refund] = refunds_of(database, order_id)
        assert (refund.kind, refund.status, refund.amount) == ("late_payment", "succeeded", 1000)
        [remote] = stripe_api.refunds.values()
        assert (
            remote["payment_intent"]
            == stripe_api.session_of(payment_of(database, order_id).id)["payment_intent"]
        )
        assert wallet(database, card_id) == 0
        assert books_balance(database)


class TestStripeSessionLifetime:
    def test_expires_at_counts_from_sending_not_from_the_order(
        self, database: Database, stripe_api: FakeStripe, frozen_clock: clock.FrozenClock
    ) -> None:
        with database.transaction() as session:  # the request died before it called Stripe...
            make_catalog(session)
            card = make_card(session)
            order, payment = create_topup(
                session, card, product_id="balance-10", currency="USD", payment_method="card"
            )
        frozen_clock.advance(minutes=5)
        drain(database)  # ...so the safety-net job opens it, five minutes late
        session_made = stripe_api.session_of(payment.id)  # Stripe refuses less than 30 minutes ahead
        assert session_made["expires_at"] >= int(clock.now().timestamp()) + 30 * 60
        assert statuses(database, order.id) == ("pending_payment", "pending")
        assert payment_of(database, order.id).checkout_sent_at is not None


class TestFinalSweep:
    def _unknown_with_dead_settle_job(
        self, database: Database, client: TestClient, stripe_api: FakeStripe
    ) -> tuple[int, str]:
        card_id, auth = signed_in(database, client)
        stripe_api.lose_answers = True  # Stripe made the session; its answer never came back
        created = order_topup(client, auth, "card", currency="USD")
        assert created.json()["status"] == "unknown"
        stripe_api.lose_answers = False
        kill_jobs(database, "payment.settle_unknown")
        return card_id, created.json()["id"]

    def test_nothing_happens_before_the_delay(
        self, database: Database, client: TestClient, stripe_api: FakeStripe, frozen_clock: clock.FrozenClock
    ) -> None:
        _, order_id = self._unknown_with_dead_settle_job(database, client, stripe_api)
        frozen_clock.advance(hours=23)
        drain(database, sweep=True)
        assert statuses(database, order_id) == ("unknown", "unknown")

    def test_still_open_after_24_hours_is_expired_closed_and_listed(
        self, database: Database, client: TestClient, stripe_api: FakeStripe, frozen_clock: clock.FrozenClock
    ) -> None:
        card_id, order_id = self._unknown_with_dead_settle_job(database, client, stripe_api)
        payment = payment_of(database, order_id)
        frozen_clock.advance(hours=24, minutes=1)
        drain(database, sweep=True)
        assert statuses(database, order_id) == ("expired", "expired")
        assert stripe_api.session_of(payment.id)["status"] == "expired"  # closed at the gateway
        assert payment_of(database, order_id).final_sweep_at is not None
        assert wallet(database, card_id) == 0
        sign_in(client, *make_staff(database, "finance"))
        page = client.get("/admin/payments", headers=EN)
        assert page.status_code == 200
        assert payment.id in page.text

    def test_paid_meanwhile_is_settled_and_fulfilled(
        self, database: Database, client: TestClient, stripe_api: FakeStripe, frozen_clock: clock.FrozenClock
    ) -> None:
        card_id, order_id = self._unknown_with_dead_settle_job(database, client, stripe_api)
        stripe_api.pay(payment_of(database, order_id).id)
        frozen_clock.advance(hours=25)
        drain(database, sweep=True)
        assert statuses(database, order_id) == ("fulfilled", "succeeded")
        assert wallet(database, card_id) == 1000
        assert payment_of(database, order_id).final_sweep_at is not None
        assert books_balance(database)


class TestLostNotifications:
    def test_an_event_whose_job_died_is_handled_again_after_15_minutes(
        self, database: Database, client: TestClient, stripe_api: FakeStripe, frozen_clock: clock.FrozenClock
    ) -> None:
        card_id, auth = signed_in(database, client)
        order_id = order_topup(client, auth, "card", currency="USD").json()["id"]
        completed = stripe_api.event(
            "checkout.session.completed", stripe_api.pay(payment_of(database, order_id).id)
        )
        assert post(client, stripe_api, completed) == 200
        kill_jobs(database, "payment.process_event")  # the worker dead-lettered it
        frozen_clock.advance(minutes=14)
        drain(database, sweep=True)
        assert statuses(database, order_id) == ("pending_payment", "pending")
        frozen_clock.advance(minutes=2)
        drain(database, sweep=True)
        assert statuses(database, order_id) == ("fulfilled", "succeeded")
        assert wallet(database, card_id) == 1000
        with database.reading() as session:
            [event] = session.scalars(select(InboxEvent)).all()
            assert event.handled_at is not None
            assert event.redriven_at is not None

    def test_a_mismatched_amount_is_acknowledged_counted_held_and_listed(
        self,
        database: Database,
        client: TestClient,
        stripe_api: FakeStripe,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        card_id, auth = signed_in(database, client)
        order_id = order_topup(client, auth, "card", currency="USD").json()["id"]
        paid = stripe_api.pay(payment_of(database, order_id).id)
        body = stripe_api.event("checkout.session.completed", {**paid, "amount_total": 1})
        before = (
            REGISTRY.get_sample_value("roamcard_payment_notification_mismatches_total", {"source": "stripe"})
            or 0.0
        )
        assert post(client, stripe_api, body) == 200  # received: Stripe stops retrying
        assert post(client, stripe_api, body) == 200  # a retry anyway changes nothing
        drain(database)
        after = REGISTRY.get_sample_value(
            "roamcard_payment_notification_mismatches_total", {"source": "stripe"}
        )
        assert after == before + 1
        assert held(database) == 1
        assert statuses(database, order_id) == ("pending_payment", "pending")
        assert wallet(database, card_id) == 0
        logged = capsys.readouterr().out
        assert "webhook.mismatch_held" in logged
        assert stripe_api.webhook_secret not in logged
        assert stripe_api.secret_key not in logged
        sign_in(client, *make_staff(database, "finance"))
        page = client.get("/admin/payments", headers=EN).text
        event_id = body.split(b'"id": "')[1].split(b'"')[0].decode()
        assert event_id in page


def test_the_delays_are_settings() -> None:
    settings = get_settings()
    assert (settings.payment_final_sweep_after_seconds, settings.inbox_redrive_after_seconds) == (86400, 900)
    assert Payment.final_sweep_at is not None


class TestAlreadyPaidAtCloseOnChineseGateways:
    """The gateway did not answer at expiry (expired anyway), then was paid before our close got
    through: Alipay answers ACQ.TRADE_STATUS_ERROR, WeChat Pay ORDERPAID; both become late payments."""

    @pytest.mark.parametrize("gateway", ["alipay", "wechat_pay"])
    def test_paid_before_the_close_is_refunded(
        self, database: Database, client: TestClient, frozen_clock: clock.FrozenClock, gateway: str
    ) -> None:
        fake = FakeAlipay() if gateway == "alipay" else FakeWeChatPay()
        with installed(fake):  # type: ignore[type-var]
            card_id, auth = signed_in(database, client)
            order_id = order_topup(client, auth, gateway).json()["id"]
            fake.down = True
            frozen_clock.advance(hours=1)
            drain(database, sweep=True)
            assert statuses(database, order_id) == ("expired", "expired")
            fake.pay(payment_of(database, order_id).id)
            fake.down = False
            frozen_clock.advance(hours=1)  # the close job's retry
            drain(database)
            assert statuses(database, order_id) == ("expired", "succeeded")
            [refund] = refunds_of(database, order_id)
            assert (refund.kind, refund.amount) == ("late_payment", 7200)
            assert wallet(database, card_id) == 0
            assert books_balance(database)
