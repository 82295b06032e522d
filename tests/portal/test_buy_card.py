"""The portal's "Buy a travel card" flow: the form, the gateway's return, the order page, the one-time
password, the sign-in and the install page; the order token never in a URL."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.db import Database
from roamcard.jobs.sweepers import build_worker
from roamcard.models import Card, CardOrder
from tests.factories import make_card, make_catalog, make_esim_profiles
from tests.payment.flows import DESKTOP
from tests.payment.gateways import FakeAlipay, installed
from tests.portal.helpers import csrf, field_error, hidden, sign_in

FORM = {
    "product_id": "starter-10",
    "currency": "CNY",
    "payment_method": "sandbox",
    "phone": "+86 138 0013 8000",
    "language": "en",
}


def stock(database: Database, count: int = 1) -> list[str]:
    with database.transaction() as session:
        make_catalog(session)
        return make_esim_profiles(session, count)


def buy(client: TestClient, **changes: Any) -> Any:
    page = client.get("/buy?currency=CNY").text
    data = {**FORM, **changes, "csrf_token": csrf(page), "form_id": hidden(page, "form_id")}
    return client.post("/buy", data=data, follow_redirects=False)


def pay(client: TestClient, database: Database, checkout_url: str) -> Any:
    answer = client.post(
        checkout_url.removeprefix("http://testserver"), data={"decision": "approve"}, follow_redirects=False
    )
    build_worker(database).drain()
    return answer


class TestBuyACardOnTheWebsite:
    def test_the_landing_page_offers_it_next_to_sign_in(self, client: TestClient) -> None:
        html = client.get("/").text
        assert 'href="/buy"' in html
        assert 'data-testid="login-form"' in html

    def test_buy_pay_come_back_see_the_card_once_and_land_on_the_install_page(
        self, client: TestClient, database: Database
    ) -> None:
        iccids = stock(database)
        page = client.get("/buy?currency=CNY")
        assert page.status_code == 200
        assert "starter-10" in page.text
        placed = buy(client)
        assert placed.status_code == 303
        checkout = placed.headers["location"]
        assert "/sandbox/" in checkout
        cookie = client.cookies.get("rc_order")
        assert cookie is not None
        assert cookie.startswith("cor_")
        order_id, token = cookie.split(".", 1)
        assert token not in checkout  # the token is in no URL
        assert "httponly" in placed.headers["set-cookie"].lower()

        waiting = client.get("/buy/order")
        assert waiting.status_code == 200
        assert 'data-poll="/buy/order/status.json"' in waiting.text
        assert 'data-testid="pay-link"' in waiting.text
        assert client.get("/buy/order/status.json").json() == {
            "status": "pending_payment",
            "final": False,
            "fulfilled": False,
        }

        back = pay(client, database, checkout)
        assert back.status_code == 303
        returned = client.get(
            back.headers["location"].removeprefix("http://testserver"), follow_redirects=False
        )
        assert returned.status_code == 303
        assert returned.headers["location"] == "/buy/order"  # the gateway's return leads to the order
        assert client.get("/buy/order/status.json").json()["fulfilled"] is True  # and spends nothing

        done = client.get("/buy/order")
        assert done.status_code == 200
        assert done.headers["cache-control"] == "private, no-store"
        html = done.text
        assert iccids[0] in html
        assert 'data-testid="card-msisdn"' in html
        password = html.split('data-testid="card-password">', 1)[1].split("<", 1)[0]
        assert len(password) == 8
        assert password.isdigit()
        assert 'href="/esim"' in html

        # Signed in by that page: the install page works; the password is never shown again.
        esim = client.get("/esim")
        assert esim.status_code == 200
        assert 'data-testid="esim-qr"' in esim.text
        assert 'data-testid="esim-manual"' in esim.text
        assert client.cookies.get("rc_order") is None
        assert (
            client.get(
                f"/api/v1/card-orders/{order_id}", headers={"Authorization": f"Bearer {token}"}
            ).json()["password"]
            is None
        )
        client.cookies.clear()
        again = client.get("/buy/order", follow_redirects=False)
        assert again.status_code == 303
        signed = client.post("/api/v1/sessions", json={"card_number": iccids[0], "password": password})
        assert signed.status_code == 201

    def test_a_bad_phone_is_marked_and_nothing_is_ordered(
        self, client: TestClient, database: Database
    ) -> None:
        stock(database)
        answer = buy(client, phone="12")
        assert answer.status_code == 422
        assert field_error(answer.text, "phone")
        with database.reading() as session:
            assert session.scalars(select(CardOrder)).all() == []

    def test_an_empty_stock_says_so_before_anyone_pays(self, client: TestClient, database: Database) -> None:
        stock(database, 0)
        client.cookies.set("rc_lang", "en")
        answer = buy(client)
        assert answer.status_code == 409
        assert "No travel cards are available" in answer.text
        with database.reading() as session:
            assert session.scalars(select(Card)).all() == []

    def test_the_same_form_sent_twice_orders_once(self, client: TestClient, database: Database) -> None:
        stock(database, 2)
        page = client.get("/buy?currency=CNY").text
        data = {**FORM, "csrf_token": csrf(page), "form_id": hidden(page, "form_id")}
        first = client.post("/buy", data=data, follow_redirects=False)
        second = client.post("/buy", data=data, follow_redirects=False)
        assert first.headers["location"] == second.headers["location"]
        with database.reading() as session:
            assert len(session.scalars(select(CardOrder)).all()) == 1

    def test_no_order_cookie_no_order_page(self, client: TestClient) -> None:
        assert client.get("/buy/order", follow_redirects=False).headers["location"] == "/buy"
        refused = client.get("/buy/order/status.json", follow_redirects=False)
        assert refused.status_code == 303  # to sign-in, like any page that needs a card
        client.cookies.set("rc_order", "cor_nothing.forged")
        assert client.get("/buy/order/status.json", follow_redirects=False).status_code == 303
        assert client.get("/buy/order", follow_redirects=False).headers["location"] == "/buy"


class TestOtherGateways:
    def test_alipay_on_a_desktop_shows_its_qr_on_the_order_page(
        self, client: TestClient, database: Database
    ) -> None:
        stock(database)
        with installed(FakeAlipay()):
            client.headers["User-Agent"] = DESKTOP
            placed = buy(client, payment_method="alipay")
            assert placed.status_code == 303, placed.text
            assert placed.headers["location"] == "/buy/order"
            html = client.get("/buy/order").text
            assert 'data-testid="pay-qr"' in html
            assert 'src="data:image/svg+xml' in html

    def test_a_bad_email_is_marked(self, client: TestClient, database: Database) -> None:
        stock(database)
        answer = buy(client, email="not-an-email")
        assert answer.status_code == 422
        assert field_error(answer.text, "email")


class TestSignedInWithAnotherCard:
    def test_the_gateways_return_still_leads_to_the_new_cards_order(
        self, client: TestClient, database: Database
    ) -> None:
        iccids = stock(database)
        with database.transaction() as session:
            mine = make_card(session, language="en").card_number
        sign_in(client, mine)
        placed = buy(client)
        back = pay(client, database, placed.headers["location"])
        returned = client.get(
            back.headers["location"].removeprefix("http://testserver"), follow_redirects=False
        )
        assert returned.status_code == 303
        assert returned.headers["location"] == "/buy/order"
        assert iccids[0] in client.get("/buy/order").text
