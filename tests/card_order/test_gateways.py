"""A card order through a remote gateway (Alipay's fake): the checkout opened between two transactions
exactly as a top-up's, and a gateway that does not answer leaves the order unknown until it is settled."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from roamcard.db import Database
from roamcard.kit import clock
from roamcard.models import Payment
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
