from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from roamcard.db import Database
from roamcard.models import Card, TopupOrder
from tests.portal.helpers import csrf, field_error, form_error, hidden, post_form

EN = {"Accept-Language": "en"}


def order_count(database: Database) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(TopupOrder)) or 0)


def review(client: TestClient, **fields: str) -> str:
    data = {"currency": "USD", "payment_method": "sandbox", **fields}
    response = post_form(client, "/recharge", "/recharge/review", data, headers=EN)
    return response.text


def confirm_fields(html: str) -> dict[str, str]:
    names = ("product_id", "currency", "payment_method", "amount_minor", "form_id")
    return {name: hidden(html, name) for name in names} | {"csrf_token": csrf(html)}


class TestRechargePage:
    def test_lists_denominations_packs_and_custom_amount_in_the_chosen_currency(
        self, signed_in: TestClient
    ) -> None:
        html = signed_in.get("/recharge?currency=CNY", headers=EN).text
        for text in (
            "Balance",
            "Data packs",
            "Voice packs",
            "Bundles",
            "¥72.00",
            "¥108.00",
            "Valid for 30 days",
        ):
            assert text in html
        assert "United States, Canada, Mexico" in html
        assert 'name="amount"' in html
        assert "From $5.00 to $500.00." in html
        dollars = signed_in.get("/recharge?currency=USD", headers=EN).text
        assert "$15.00" in dollars
        assert "¥108.00" not in dollars

    def test_is_in_chinese_by_default_for_chinese_browsers(self, signed_in: TestClient) -> None:
        html = signed_in.get("/recharge", headers={"Accept-Language": "zh-CN"}).text
        assert "流量包" in html
        assert "¥36.00" in html


class TestConfirmationStep:
    def test_shows_exactly_what_is_charged_and_credited(
        self, signed_in: TestClient, database: Database
    ) -> None:
        html = review(signed_in, product_id="data-5gb-30d", currency="CNY")
        assert 'data-testid="price">¥108.00<' in html
        assert 'data-testid="credited">5 GB data<' in html
        assert "30 days from the moment it is added" in html
        chinese = post_form(
            signed_in,
            "/recharge",
            "/recharge/review",
            {"product_id": "data-5gb-30d", "currency": "CNY", "payment_method": "sandbox"},
            headers={"Accept-Language": "zh-CN"},
        ).text
        assert 'data-testid="price">¥108.00<' in chinese
        assert 'data-testid="credited">5GB 流量<' in chinese
        assert order_count(database) == 0  # reviewing orders nothing

    def test_custom_amount_is_priced_by_the_quote(self, signed_in: TestClient) -> None:
        html = review(signed_in, product_id="balance-custom", amount="12.50")
        assert 'data-testid="price">$12.50<' in html
        assert hidden(html, "amount_minor") == "1250"

    def test_custom_amount_out_of_range_is_marked_next_to_the_field(
        self, signed_in: TestClient, database: Database
    ) -> None:
        for amount in ("4.99", "500.01"):
            html = review(signed_in, product_id="balance-custom", amount=amount)
            assert field_error(html, "amount") == "Enter an amount between $5.00 and $500.00."
            assert f'value="{amount}"' in html  # kept for correcting
            assert 'aria-describedby="amount-hint amount-error"' in html
        assert order_count(database) == 0

    def test_unreadable_amount_and_missing_choice(self, signed_in: TestClient) -> None:
        assert field_error(review(signed_in, product_id="balance-custom", amount="ten"), "amount") == (
            "Enter an amount like 25 or 25.50."
        )
        assert field_error(review(signed_in, product_id=""), "product_id") == "Choose what to recharge."


class TestStartingTheRecharge:
    def test_creates_one_web_order_and_goes_to_the_gateway(
        self, signed_in: TestClient, database: Database
    ) -> None:
        html = review(signed_in, product_id="data-1gb-7d")
        response = signed_in.post("/recharge/confirm", data=confirm_fields(html), follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("http://testserver/sandbox/checkout/lnk_")
        with database.reading() as session:
            order = session.scalars(select(TopupOrder)).one()
        assert (order.channel, order.product_id, order.price_amount, order.price_currency) == (
            "web",
            "data-1gb-7d",
            500,
            "USD",
        )

    def test_sending_the_same_form_again_orders_nothing_new_and_says_so(
        self, signed_in: TestClient, database: Database
    ) -> None:
        fields = confirm_fields(review(signed_in, product_id="data-1gb-7d"))
        signed_in.post("/recharge/confirm", data=fields, follow_redirects=False)
        again = signed_in.post("/recharge/confirm", data=fields, follow_redirects=False)
        assert again.status_code == 303
        assert again.headers["location"].endswith("?again=1")
        page = signed_in.get(again.headers["location"], headers=EN).text
        assert "nothing new was ordered" in page
        assert order_count(database) == 1

    def test_a_tampered_form_is_refused(self, signed_in: TestClient, database: Database) -> None:
        fields = confirm_fields(review(signed_in, product_id="data-1gb-7d"))
        signed_in.post("/recharge/confirm", data=fields, follow_redirects=False)
        tampered = signed_in.post(
            "/recharge/confirm", data=fields | {"product_id": "data-5gb-30d"}, headers=EN
        )
        assert tampered.status_code == 409
        assert order_count(database) == 1

    def test_a_forged_form_changes_nothing(self, signed_in: TestClient, database: Database) -> None:
        fields = confirm_fields(review(signed_in, product_id="data-1gb-7d")) | {"csrf_token": "1.forged"}
        response = signed_in.post("/recharge/confirm", data=fields, headers=EN)
        assert response.status_code == 403
        assert form_error(response.text)
        assert order_count(database) == 0

    def test_a_suspended_card_cannot_recharge(
        self, signed_in: TestClient, card: Card, database: Database
    ) -> None:
        fields = confirm_fields(review(signed_in, product_id="data-1gb-7d"))
        with database.transaction() as session:
            stored = session.get(Card, card.id)
            assert stored is not None
            stored.status = "suspended"
        response = signed_in.post("/recharge/confirm", data=fields, headers=EN)
        assert response.status_code == 403
        assert "suspended" in (form_error(response.text) or "")
        assert order_count(database) == 0
