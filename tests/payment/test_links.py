"""The payment link by SMS (hotline menu 3, agent console) with a real gateway, faked as Stripe answers:
the SMS carries our own page, /pay/link/<token>, which opens the checkout when the traveller arrives.
The token is signed, single-use and expires with the order's payment window."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.ivr.payment_link import send_payment_link
from roamcard.kit import clock
from roamcard.models import Notification
from roamcard.topup.states import Channel
from tests.factories import make_card, make_catalog
from tests.payment.flows import drain, payment_of, statuses, wallet
from tests.payment.gateways import FakeStripe, installed


@pytest.fixture
def stripe_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    monkeypatch.setattr(get_settings(), "phone_payment_method", "card")
    with installed(FakeStripe()) as fake:
        yield fake


def texted_link(database: Database, channel: Channel = Channel.IVR) -> tuple[int, str, str]:
    with database.transaction() as session:
        make_catalog(session)
        card = make_card(session)
        link = send_payment_link(session, card, "balance-10", channel=channel)
        card_id, order_id = card.id, link.order.id
    with database.reading() as session:
        sms = session.scalars(select(Notification).where(Notification.template == "payment_link")).one()
    [url] = re.findall(r"http://testserver/pay/link/[0-9a-z_]+\.[0-9a-f]{8}\.[0-9a-f]{32}", sms.body)
    return card_id, order_id, urlsplit(url).path


class TestPaymentLinkWithARealGateway:
    def test_the_link_opens_the_checkout_when_the_traveller_arrives(
        self, database: Database, client: TestClient, stripe_api: FakeStripe
    ) -> None:
        card_id, order_id, path = texted_link(database)
        assert stripe_api.calls == []  # nothing was opened inside the caller's transaction
        page = client.get(path)
        assert page.status_code == 200
        assert "$10.00" in page.text
        assert stripe_api.calls == []  # a link preview fetching the page opens nothing
        opened = client.post(path, follow_redirects=False)
        assert opened.status_code == 303
        payment = payment_of(database, order_id)
        assert opened.headers["location"] == stripe_api.session_of(payment.id)["url"]
        assert payment.checkout_flow == "redirect"
        paid = stripe_api.pay(payment.id)
        body = stripe_api.event("checkout.session.completed", paid)
        assert (
            client.post("/webhooks/stripe", content=body, headers=stripe_api.headers(body)).status_code == 200
        )
        drain(database)
        assert statuses(database, order_id) == ("fulfilled", "succeeded")
        assert wallet(database, card_id) == 1000

    def test_the_link_works_once(
        self, database: Database, client: TestClient, stripe_api: FakeStripe
    ) -> None:
        _, _, path = texted_link(database)
        assert client.post(path, follow_redirects=False).status_code == 303
        assert client.post(path, follow_redirects=False).status_code == 410
        assert client.get(path).status_code == 410

    def test_a_gateway_that_does_not_answer_leaves_the_link_usable(
        self, database: Database, client: TestClient, stripe_api: FakeStripe, frozen_clock: clock.FrozenClock
    ) -> None:
        _, order_id, path = texted_link(database)
        stripe_api.lose_answers = True  # Stripe makes the session, the answer never comes back
        assert client.post(path, follow_redirects=False).status_code == 409  # payment_link_not_ready
        assert payment_of(database, order_id).status == "unknown"
        assert client.post(path, follow_redirects=False).status_code == 409  # still not spent
        stripe_api.lose_answers = False
        frozen_clock.advance(seconds=60)
        drain(database)  # the settle job asks Stripe and finds the session
        payment = payment_of(database, order_id)
        assert payment.status == "pending"
        opened = client.post(path, follow_redirects=False)
        assert (opened.status_code, opened.headers["location"]) == (
            303,
            stripe_api.session_of(payment.id)["url"],
        )
        assert client.post(path, follow_redirects=False).status_code == 410  # spent once it opened

    def test_the_link_expires_with_the_payment_window(
        self, database: Database, client: TestClient, stripe_api: FakeStripe, frozen_clock: clock.FrozenClock
    ) -> None:
        _, _, path = texted_link(database)
        frozen_clock.advance(seconds=get_settings().payment_window_seconds + 1)
        assert client.get(path).status_code == 410
        assert client.post(path, follow_redirects=False).status_code == 410
        assert stripe_api.calls == []

    @pytest.mark.parametrize("forgery", ["digest", "subject", "key_id", "garbage"])
    def test_a_forged_link_is_refused(
        self, database: Database, client: TestClient, stripe_api: FakeStripe, forgery: str
    ) -> None:
        _, _, path = texted_link(database)
        link_id, key_id, digest = path.rsplit("/", 1)[1].split(".")
        forged = {
            "digest": f"{link_id}.{key_id}.{digest[:-1]}{'0' if digest[-1] != '0' else '1'}",
            "subject": f"lnk_00000000000000000000.{key_id}.{digest}",
            "key_id": f"{link_id}.00000000.{digest}",
            "garbage": "pay_" + "x" * 20,
        }[forgery]
        assert client.post(f"/pay/link/{forged}", follow_redirects=False).status_code == 403
        assert client.get(f"/pay/link/{forged}").status_code == 403
        assert stripe_api.calls == []
