"""The portal with real gateways, configured the way an operator does (ROAMCARD_* settings and key files)
and faked over HTTP exactly as the gateway tests fake them: QR codes on a desktop, redirects on a phone,
only the configured methods, and "confirming payment" when a gateway does not answer."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import respx
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.models import TopupOrder
from roamcard.payment import providers
from tests.payment.flows import DESKTOP, MOBILE, count, drain, payment_of, statuses
from tests.payment.gateways import FORM, FakeAlipay, FakeStripe, FakeWeChatPay
from tests.portal.helpers import field_error, post_form
from tests.portal.test_recharge import confirm_fields

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


@dataclass
class Gateways:
    alipay: FakeAlipay
    wechat: FakeWeChatPay
    stripe: FakeStripe


Configure = Callable[..., Gateways]


@pytest.fixture
def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Configure]:
    """Set the gateways' settings (keys written to files, as in production) and fake their HTTP."""
    fakes = Gateways(FakeAlipay(), FakeWeChatPay(), FakeStripe())

    def write(name: str, text: str) -> str:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    def setup(*, alipay: bool = True, wechat: bool = True, stripe: bool = True) -> Gateways:
        env: dict[str, str] = {}
        if alipay:
            env |= {
                "ALIPAY_APP_ID": fakes.alipay.app_id,
                "ALIPAY_SELLER_ID": fakes.alipay.seller_id,
                "ALIPAY_PRIVATE_KEY_FILE": write("alipay-app.pem", fakes.alipay.app_private),
                "ALIPAY_PUBLIC_KEY_FILE": write("alipay-public.pem", fakes.alipay.alipay_public),
                "ALIPAY_GATEWAY_URL": fakes.alipay.url,
            }
        if wechat:
            env |= {
                "WECHATPAY_MCHID": fakes.wechat.mchid,
                "WECHATPAY_APPID": fakes.wechat.appid,
                "WECHATPAY_APIV3_KEY": fakes.wechat.apiv3_key,
                "WECHATPAY_PRIVATE_KEY_FILE": write("apiclient_key.pem", fakes.wechat.merchant_private),
                "WECHATPAY_CERT_SERIAL_NO": fakes.wechat.cert_serial_no,
                "WECHATPAY_PUBLIC_KEY_FILE": write("wechatpay-public.pem", fakes.wechat.platform_public),
                "WECHATPAY_PUBLIC_KEY_ID": fakes.wechat.public_key_id,
                "WECHATPAY_GATEWAY_URL": fakes.wechat.url,
            }
        if stripe:
            env |= {
                "STRIPE_SECRET_KEY": fakes.stripe.secret_key,
                "STRIPE_WEBHOOK_SECRET": fakes.stripe.webhook_secret,
                "STRIPE_MAX_NETWORK_RETRIES": "0",
            }
        for name, value in env.items():
            monkeypatch.setenv(f"ROAMCARD_{name}", value)
        get_settings.cache_clear()
        providers.reset()
        return fakes

    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        fakes.alipay.mount(router)
        fakes.wechat.mount(router)
        fakes.stripe.mount(router)
        yield setup
    monkeypatch.undo()
    get_settings.cache_clear()
    providers.reset()


@pytest.fixture
def gateways(configure: Configure) -> Gateways:
    return configure()


def methods_on(html: str) -> list[str]:
    return re.findall(r'name="payment_method" value="([^"]+)"', html)


def review(
    client: TestClient, method: str, *, currency: str = "CNY", product_id: str = "balance-10", **headers: str
) -> Response:
    data = {"product_id": product_id, "currency": currency, "payment_method": method}
    return post_form(client, f"/recharge?currency={currency}", "/recharge/review", data, headers=headers)


def confirm(
    client: TestClient, method: str, *, currency: str = "CNY", user_agent: str = DESKTOP
) -> tuple[Response, dict[str, str]]:
    headers = {**EN, "User-Agent": user_agent}
    fields = confirm_fields(review(client, method, currency=currency, **headers).text)
    response = client.post("/recharge/confirm", data=fields, headers=headers, follow_redirects=False)
    return response, fields


def only_order(database: Database) -> TopupOrder:
    with database.reading() as session:
        order = session.scalars(select(TopupOrder)).one()
        session.expunge(order)
        return order


def form_action(response: Response) -> str:
    policy = response.headers["Content-Security-Policy"]
    return next(part for part in policy.split("; ") if part.startswith("form-action"))


class TestPaymentMethods:
    def test_without_gateway_settings_only_the_sandbox_is_offered(self, signed_in: TestClient) -> None:
        assert methods_on(signed_in.get("/recharge?currency=CNY", headers=EN).text) == ["sandbox"]

    def test_configured_gateways_are_offered_by_name_in_the_currencies_they_take(
        self, signed_in: TestClient, gateways: Gateways
    ) -> None:
        chinese = signed_in.get("/recharge?currency=CNY", headers=ZH).text
        assert methods_on(chinese) == ["alipay", "wechat_pay", "card", "sandbox"]
        for name in ("支付宝", "微信支付", "银行卡"):
            assert f">{name}</label>" in chinese
        english = signed_in.get("/recharge?currency=CNY", headers=EN).text
        for name in ("Alipay", "WeChat Pay", "Credit or debit card"):
            assert f">{name}</label>" in english
        dollars = signed_in.get("/recharge?currency=USD", headers=EN).text
        assert methods_on(dollars) == ["card", "sandbox"]
        assert "To pay with Alipay, pay in CNY ¥." in dollars
        refused = review(signed_in, "alipay", currency="USD", **EN)
        assert field_error(refused.text, "payment_method") == "This payment method is not available."

    def test_a_gateway_with_incomplete_settings_is_not_offered(
        self, signed_in: TestClient, configure: Configure, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        configure(wechat=False, stripe=False)
        assert methods_on(signed_in.get("/recharge?currency=CNY").text) == ["alipay", "sandbox"]
        monkeypatch.delenv("ROAMCARD_ALIPAY_SELLER_ID")
        get_settings.cache_clear()
        providers.reset()
        assert methods_on(signed_in.get("/recharge?currency=CNY").text) == ["sandbox"]


class TestDesktopGetsAQrCode:
    def test_alipay_opens_at_once_and_shows_its_code_amount_and_cashier_link(
        self, signed_in: TestClient, database: Database, gateways: Gateways
    ) -> None:
        response, _ = confirm(signed_in, "alipay")
        order = only_order(database)
        assert response.status_code == 303, response.text
        assert response.headers["location"] == f"/topups/{order.id}/pay"
        assert gateways.alipay.calls == ["alipay.trade.precreate"]  # opened by the request, not a job
        payment = payment_of(database, order.id)
        assert payment.qr_code is not None
        assert payment.qr_code.startswith("https://qr.alipay.com/")

        page = signed_in.get(response.headers["location"], headers=EN)
        assert page.status_code == 200
        html = page.text
        assert re.search(r'<div class="qr" role="img" aria-label="[^"]+" data-testid="qr"><svg ', html)
        assert 'data-testid="amount">¥' in html
        assert "Open Alipay, tap Scan, and scan this code." in html
        assert f'data-poll="/topups/{order.id}/status.json"' in html
        cashier = re.search(r'href="([^"]+)" data-testid="gateway-link"', html)
        assert cashier is not None
        assert cashier.group(1).startswith(gateways.alipay.url + "?")
        assert "alipay.trade.page.pay" in cashier.group(1)
        # Strict CSP, and nothing inline it would have to allow.
        policy = page.headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy
        assert "style-src 'self';" in policy
        assert "unsafe-inline" not in policy
        assert not re.search(r"<script(?![^>]*\bsrc=)", html)
        assert " style=" not in html
        assert "<style" not in html

        chinese = signed_in.get(response.headers["location"], headers=ZH).text
        assert "扫码支付" in chinese
        assert "打开支付宝，点击“扫一扫”，扫描此二维码。" in chinese

    def test_wechat_pay_native_code_is_drawn_here(
        self, signed_in: TestClient, database: Database, gateways: Gateways
    ) -> None:
        response, _ = confirm(signed_in, "wechat_pay")
        order = only_order(database)
        assert response.headers["location"] == f"/topups/{order.id}/pay"
        assert gateways.wechat.calls == ["POST /v3/pay/transactions/native"]
        assert (payment_of(database, order.id).qr_code or "").startswith("weixin://wxpay/")
        html = signed_in.get(response.headers["location"], headers=EN).text
        assert "<svg " in html
        assert "Open WeChat, tap Scan, and scan this code." in html
        assert 'data-testid="gateway-link"' not in html  # WeChat's checkout is our own QR page

    def test_a_resent_confirmation_makes_no_second_order_or_gateway_call(
        self, signed_in: TestClient, database: Database, gateways: Gateways
    ) -> None:
        _, fields = confirm(signed_in, "alipay")
        again = signed_in.post("/recharge/confirm", data=fields, headers=EN, follow_redirects=False)
        order = only_order(database)
        assert again.status_code == 303
        assert again.headers["location"] == f"/topups/{order.id}?again=1"
        assert count(database, TopupOrder) == 1
        assert gateways.alipay.calls == ["alipay.trade.precreate"]
        status = signed_in.get(again.headers["location"], headers=EN).text
        assert f'href="/topups/{order.id}/pay" data-testid="pay-link"' in status

    def test_the_qr_page_moves_on_to_the_status_page_once_paid(
        self, signed_in: TestClient, database: Database, gateways: Gateways
    ) -> None:
        response, _ = confirm(signed_in, "alipay")
        order = only_order(database)
        assert signed_in.get(f"/topups/{order.id}/status.json").json()["status"] == "pending_payment"
        payment = payment_of(database, order.id)
        gateways.alipay.pay(payment.id)
        paid = signed_in.post("/webhooks/alipay", content=gateways.alipay.notification(payment), headers=FORM)
        assert paid.text == "success"
        drain(database)
        assert signed_in.get(f"/topups/{order.id}/status.json").json()["fulfilled"] is True
        leaving = signed_in.get(response.headers["location"], follow_redirects=False)
        assert leaving.status_code == 303
        assert leaving.headers["location"] == f"/topups/{order.id}"


class TestPhonesAreRedirected:
    def test_alipay_goes_to_the_wap_cashier(
        self, signed_in: TestClient, database: Database, gateways: Gateways
    ) -> None:
        response, _ = confirm(signed_in, "alipay", user_agent=MOBILE)
        assert response.status_code == 303
        location = response.headers["location"]
        assert location.startswith(gateways.alipay.url + "?")
        assert "method=alipay.trade.wap.pay" in location
        assert gateways.alipay.calls == []  # signed here, nothing to call
        assert payment_of(database, only_order(database).id).qr_code is None
        assert "https://openapi.alipay.test" in form_action(response)

    def test_wechat_pay_goes_to_h5_and_comes_back_to_the_order(
        self, signed_in: TestClient, database: Database, gateways: Gateways
    ) -> None:
        response, _ = confirm(signed_in, "wechat_pay", user_agent=MOBILE)
        location = response.headers["location"]
        assert location.startswith("https://wx.tenpay.com/")
        assert f"topups%2F{only_order(database).id}" in location
        assert gateways.wechat.calls == ["POST /v3/pay/transactions/h5"]
        assert "https://wx.tenpay.com" in form_action(response)

    def test_cards_go_to_stripe_checkout_on_any_screen(
        self, signed_in: TestClient, gateways: Gateways
    ) -> None:
        response, _ = confirm(signed_in, "card", currency="USD")
        assert response.status_code == 303
        assert response.headers["location"].startswith("https://checkout.stripe.com/c/pay/cs_test_")
        assert gateways.stripe.calls == ["POST /v1/checkout/sessions"]
        assert "https://checkout.stripe.com" in form_action(response)


class TestGatewayTimeout:
    @pytest.mark.parametrize("method", ["alipay", "wechat_pay"])
    def test_shows_confirming_payment_not_an_error(
        self, signed_in: TestClient, database: Database, gateways: Gateways, method: str
    ) -> None:
        gateways.alipay.down = gateways.wechat.down = True
        response, _ = confirm(signed_in, method)
        order = only_order(database)
        assert response.status_code == 303
        assert response.headers["location"] == f"/topups/{order.id}"
        assert statuses(database, order.id) == ("unknown", "unknown")
        page = signed_in.get(response.headers["location"], headers=EN)
        assert page.status_code == 200
        assert 'data-testid="status">Confirming payment<' in page.text
        assert "We are confirming your payment with the payment provider." in page.text
        assert 'data-testid="pay-link"' not in page.text
        # The QR page has nothing to show either: it sends the user to the status page.
        pay = signed_in.get(f"/topups/{order.id}/pay", follow_redirects=False)
        assert pay.headers["location"] == f"/topups/{order.id}"
