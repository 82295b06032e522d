"""A card order through a remote gateway (Alipay's fake): the checkout opened between two transactions
exactly as a top-up's, and a gateway that does not answer leaves the order unknown until it is settled."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.db import Database
from roamcard.jobs.sweepers import build_worker
from roamcard.kit import clock
from roamcard.models import Card, CardOrder, EsimProfile, Payment
from tests.card_order.test_card_orders import create, read, stock
from tests.payment.flows import DESKTOP, drain
from tests.payment.gateways import FakeAlipay, installed


@pytest.fixture
def alipay() -> Iterator[FakeAlipay]:
    with installed(FakeAlipay()) as fake:
        yield fake


def test_alipay_desktop_gets_its_qr_and_a_replay_calls_alipay_once(
    database: Database, client: TestClient, alipay: FakeAlipay
) -> None:
    stock(database, 1)
    client.headers["User-Agent"] = DESKTOP
    created = create(client, payment_method="alipay")
    assert created.status_code == 201, created.text
    payment = created.json()["payment"]
    assert payment["provider"] == "alipay"
    assert payment["qr_code"].startswith("https://qr.alipay.com/")
    assert payment["checkout_url"].startswith(alipay.url + "?")
    assert create(client, payment_method="alipay").json() == created.json()
    assert alipay.calls == ["alipay.trade.precreate"]


def test_an_unanswered_gateway_leaves_it_unknown_and_settling_it_issues_the_card(
    database: Database, client: TestClient, alipay: FakeAlipay, frozen_clock: clock.FrozenClock
) -> None:
    iccids = stock(database, 1)
    client.headers["User-Agent"] = DESKTOP
    alipay.down = True
    created = create(client, payment_method="alipay")
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["status"] == "unknown"
    with database.reading() as session:
        payment = session.get(Payment, order["payment"]["id"])
        assert payment is not None
    alipay.down = False
    alipay.trades[payment.id] = {"status": "WAIT_BUYER_PAY", "total_amount": "72.00"}
    alipay.pay(payment.id)
    frozen_clock.advance(minutes=5)
    drain(database)
    done = read(client, order).json()
    assert done["status"] == "fulfilled"
    assert done["card"]["card_number"] == iccids[0]
    assert done["password"] is not None


def _sweep(database: Database, frozen_clock: clock.FrozenClock, hours: int) -> None:
    worker = build_worker(database)
    for _ in range(hours):
        frozen_clock.advance(hours=1)
        worker._last_sweep = 0.0
        worker.sweep_if_due()
        worker.drain()


def test_an_order_whose_payment_stays_unknown_is_swept_and_its_profile_goes_back_to_stock(
    database: Database, client: TestClient, alipay: FakeAlipay, frozen_clock: clock.FrozenClock
) -> None:
    """The top-ups' rule for card orders: nothing stays unknown forever. The final sweep asks once more;
    still no answer: the payment and its top-up order expire (and are closed at the gateway), and the
    card order follows, giving its reserved profile back."""
    (iccid,) = stock(database, 1)
    client.headers["User-Agent"] = DESKTOP
    alipay.down = True
    order = create(client, payment_method="alipay").json()
    assert order["status"] == "unknown"
    _sweep(database, frozen_clock, 3)
    assert read(client, order).json()["status"] == "unknown"  # still asking: not given up early
    _sweep(database, frozen_clock, 24)
    swept = read(client, order).json()
    assert swept["status"] == "expired"
    with database.reading() as session:
        payment = session.get(Payment, order["payment"]["id"])
        assert payment is not None
        assert payment.status == "expired"
        assert payment.final_sweep_at is not None
        stored = session.get(CardOrder, order["id"])
        assert stored is not None
        assert stored.status == "expired"
        assert session.get(Card, stored.card_id).status == "lapsed"  # type: ignore[union-attr]
        profile = session.scalars(select(EsimProfile).where(EsimProfile.iccid == iccid)).one()
        assert (profile.status, profile.card_id) == ("available", None)


def test_an_unknown_order_the_final_sweep_finds_paid_issues_the_card(
    database: Database, client: TestClient, alipay: FakeAlipay, frozen_clock: clock.FrozenClock
) -> None:
    (iccid,) = stock(database, 1)
    client.headers["User-Agent"] = DESKTOP
    alipay.down = True
    order = create(client, payment_method="alipay").json()
    _sweep(database, frozen_clock, 20)  # the settle job has given up by now
    with database.reading() as session:
        payment = session.get(Payment, order["payment"]["id"])
        assert payment is not None
        assert payment.status == "unknown"
    alipay.down = False
    alipay.trades[payment.id] = {"status": "WAIT_BUYER_PAY", "total_amount": "72.00"}
    alipay.pay(payment.id)
    _sweep(database, frozen_clock, 6)
    done = read(client, order).json()
    assert done["status"] == "fulfilled"
    assert done["card"]["card_number"] == iccid
