"""What the traveller sees of promotions on the website: the confirmation step's breakdown and promo-code
field (priced through the quote, so the order is charged what was shown), the dashboard's banner, and
what was applied on the status page, the receipt (HTML and PDF), the history, the CSV and the SMS."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select

from roamcard.db import Database
from roamcard.models import Notification, Quote, TopupOrder, VoucherAttempt
from tests.portal.helpers import csrf, field_error, hidden, post_form
from tests.portal.test_status_and_history import pay
from tests.promotion.test_topup import PACK, TWENTY, _load

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}
CHOICE = {"product_id": "data-5gb-30d", "currency": "CNY", "payment_method": "sandbox"}
CODE = 'code = "SPRING2027"'


def review(client: TestClient, headers: dict[str, str] = EN, **fields: str) -> str:
    response = post_form(client, "/recharge", "/recharge/review", {**CHOICE, **fields}, headers=headers)
    assert response.status_code == 200, response.text
    return response.text


def confirm(client: TestClient, html: str) -> str:
    names = ("product_id", "currency", "payment_method", "amount_minor", "quote_id", "form_id")
    data = {name: hidden(html, name) for name in names} | {"csrf_token": csrf(html)}
    answer = client.post("/recharge/confirm", data=data, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return answer.headers["location"].removeprefix("http://testserver")


def paid_order(client: TestClient, database: Database, html: str) -> TopupOrder:
    pay(client, database, confirm(client, html))
    with database.reading() as session:
        order = session.scalars(select(TopupOrder)).one()
        session.expunge(order)
        return order


class TestConfirmationStep:
    def test_shows_list_price_each_discount_and_bonus_and_the_charge(
        self, signed_in: TestClient, database: Database, tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, "stackable = true"), ("gift", PACK, "stackable = true"))
        html = review(signed_in)
        assert 'data-testid="list-price"><s>¥108.00</s><' in html
        assert "Spring Festival offer" in html
        assert 'data-testid="discount">−¥21.60<' in html
        assert 'data-testid="bonus">+1 GB bonus data<' in html
        assert 'data-testid="price">¥86.40<' in html
        chinese = review(signed_in, ZH)
        assert "春节充值特惠" in chinese
        assert 'data-testid="bonus">+1GB 赠送流量<' in chinese
        assert 'data-testid="list-price"><s>¥108.00</s><' in chinese

    def test_the_order_is_placed_with_the_quote_and_charged_what_was_shown(
        self, signed_in: TestClient, database: Database, tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, ""))
        html = review(signed_in)
        quote_id = hidden(html, "quote_id")
        assert quote_id.startswith("quo_")
        order = paid_order(signed_in, database, html)
        assert (order.price_amount, order.list_price_amount) == (8640, 10800)
        with database.reading() as session:
            assert session.get(Quote, quote_id) is not None

    def test_a_campaign_ended_after_the_review_refuses_the_order_instead_of_charging_another_price(
        self, signed_in: TestClient, database: Database, tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, ""))
        html = review(signed_in)
        _load(database, tmp_path, ("spring", TWENTY, 'status = "ended"'))
        names = ("product_id", "currency", "payment_method", "amount_minor", "quote_id", "form_id")
        data = {name: hidden(html, name) for name in names} | {"csrf_token": csrf(html)}
        refused = signed_in.post("/recharge/confirm", data=data, headers=EN, follow_redirects=False)
        assert refused.status_code == 409
        assert "This price is no longer on offer" in refused.text
        with database.reading() as session:
            assert session.scalars(select(TopupOrder)).all() == []


class TestPromoCodeField:
    def test_a_right_code_applies_through_the_quote_and_is_kept_for_the_order(
        self, signed_in: TestClient, database: Database, tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, CODE))
        plain = review(signed_in)
        assert 'data-testid="price">¥108.00<' in plain
        assert 'name="promo_code"' in plain
        html = review(signed_in, promo_code="spring2027")
        assert 'data-testid="code-applied"' in html
        assert 'data-testid="price">¥86.40<' in html
        assert paid_order(signed_in, database, html).price_amount == 8640

    def test_a_wrong_code_is_explained_inline_in_the_readers_language_and_counted(
        self, signed_in: TestClient, database: Database, tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, CODE))
        html = review(signed_in, promo_code="NOPE")
        assert field_error(html, "promo_code") == "There is no such promo code. Check it and try again."
        assert 'data-testid="price">¥108.00<' in html  # the price without it, still payable
        assert 'name="promo_code" type="text" value="NOPE"' in html  # kept in the field, to be corrected
        chinese = review(signed_in, ZH, promo_code="NOPE2")
        assert field_error(chinese, "promo_code") not in (
            None,
            "There is no such promo code. Check it and try again.",
        )
        with database.reading() as session:
            assert session.scalars(select(VoucherAttempt.outcome)).all() == ["wrong_promo_code"] * 2

    def test_a_right_code_that_does_not_fit_says_why_and_is_not_counted(
        self, signed_in: TestClient, database: Database, tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, CODE + '\nproducts = ["balance-30"]'))
        html = review(signed_in, promo_code="SPRING2027")
        assert field_error(html, "promo_code") == (
            "This promo code does not apply to this product, payment method or channel."
        )
        with database.reading() as session:
            assert session.scalars(select(VoucherAttempt)).all() == []

    def test_after_too_many_wrong_codes_the_lock_out_is_shown_inline(
        self, signed_in: TestClient, database: Database, tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, CODE))
        for i in range(5):
            review(signed_in, promo_code=f"NOPE{i}")
        html = review(signed_in, promo_code="SPRING2027")
        message = field_error(html, "promo_code")
        assert message is not None
        assert message.startswith("Too many wrong promo codes. Try again in")
        assert 'data-testid="price">¥108.00<' in html


class TestDashboardBanner:
    def test_shows_the_campaigns_this_card_can_use_now_in_its_language(
        self, signed_in: TestClient, database: Database, tmp_path: Path
    ) -> None:
        assert 'data-testid="offers"' not in signed_in.get("/account", headers=EN).text
        _load(
            database,
            tmp_path,
            ("spring", TWENTY, ""),
            ("gift", PACK, ""),
            ("secret", TWENTY, 'code = "HIDDEN1"'),
            ("phone", TWENTY, 'channels = ["ivr"]'),
        )
        html = signed_in.get("/account", headers=EN).text
        assert html.count('data-testid="offer"') == 2
        assert 'Spring Festival offer</strong>: <span class="offer-gives">20% off</span>' in html
        assert "+1 GB bonus data" in html
        chinese = signed_in.get("/account", headers=ZH).text
        assert "春节充值特惠" in chinese
        assert "立减 20%" in chinese

    def test_a_first_recharge_offer_goes_once_the_card_has_recharged(
        self, signed_in: TestClient, database: Database, tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("first", TWENTY, "first_recharge_only = true"))
        assert 'data-testid="offer"' in signed_in.get("/account", headers=EN).text
        paid_order(signed_in, database, review(signed_in))
        assert 'data-testid="offer"' not in signed_in.get("/account", headers=EN).text


class TestWhatWasApplied:
    def test_status_receipt_pdf_history_csv_and_sms_show_it_in_both_languages(
        self, signed_in: TestClient, database: Database, tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, "stackable = true"), ("gift", PACK, "stackable = true"))
        order = paid_order(signed_in, database, review(signed_in))
        assert order.status == "fulfilled"
        status = signed_in.get(f"/topups/{order.id}", headers=EN).text
        assert 'data-testid="promotion">−¥21.60<' in status
        receipt = signed_in.get(f"/topups/{order.id}/receipt", headers=EN).text
        for text in (
            "List price",
            "¥108.00",
            "Spring Festival offer",
            "−¥21.60",
            "+1 GB bonus data",
            "¥86.40",
        ):
            assert text in receipt
        chinese = signed_in.get(f"/topups/{order.id}/receipt", headers=ZH).text
        for text in ("原价", "春节充值特惠", "−¥21.60", "+1GB 赠送流量"):
            assert text in chinese
        pdf = signed_in.get(f"/topups/{order.id}/receipt.pdf", headers=ZH).content
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
        assert "春节充值特惠" in text
        assert "21.60" in text
        history = signed_in.get("/history", headers=EN).text
        assert "Spring Festival offer −¥21.60" in history
        assert "Spring Festival offer +1 GB bonus data" in history
        rows = list(csv.reader(io.StringIO(signed_in.get("/history.csv", headers=ZH).text.lstrip("\ufeff"))))
        assert rows[0][-1] == "优惠"
        assert rows[1][-1] == "春节充值特惠 −¥21.60；春节充值特惠 +1GB 赠送流量"
        with database.reading() as session:
            sms = session.scalars(
                select(Notification.body).where(Notification.template == "topup_fulfilled")
            ).one()
        assert "春节充值特惠 −¥21.60" in sms
