"""A real gateway's QR code in a real browser: Alipay faked over HTTP as in the gateway tests, the QR page
drawn under the strict CSP, and the page moving on by itself once the payment lands."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import respx
from sqlalchemy import select

from roamcard.models import Payment
from roamcard.payment import providers
from roamcard.payment import service as payment_service
from tests.e2e.conftest import LiveServer
from tests.e2e.test_portal_browser import no_horizontal_scroll, sign_in
from tests.payment.flows import DESKTOP
from tests.payment.gateways import FakeAlipay

pytestmark = pytest.mark.browser


@pytest.fixture
def alipay(live_server: LiveServer) -> Iterator[FakeAlipay]:
    fake = FakeAlipay()
    providers.register(fake.provider())
    with respx.mock(assert_all_mocked=False, assert_all_called=False) as router:
        fake.mount(router)
        router.route(host="127.0.0.1").pass_through()
        yield fake


@pytest.mark.parametrize("width", [360, 1280])
def test_alipay_qr_page_then_paid(
    live_server: LiveServer, context_factory: Any, alipay: FakeAlipay, width: int
) -> None:
    card = live_server.new_card()
    context = context_factory(locale="zh-CN", user_agent=DESKTOP, viewport={"width": width, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    sign_in(page, card.card_number)
    page.wait_for_url("**/account")
    page.goto("/recharge?currency=CNY")
    page.check("#p-balance-10")
    page.check("#m-alipay")
    page.click("[data-testid=recharge-form] button[type=submit]")
    page.click("[data-testid=confirm-form] button[type=submit]")
    page.wait_for_url("**/topups/top_*/pay")
    assert page.locator("[data-testid=qr] svg").is_visible()
    assert "支付宝" in page.text_content("main")
    assert no_horizontal_scroll(page)
    assert not [e for e in errors if "Content Security Policy" in e]
    live_server.shot(page, f"pay-qr-{width}")

    order_id = page.url.split("/")[-2]
    with live_server.database.transaction() as session:
        payment = session.scalars(select(Payment).where(Payment.order_id == order_id)).one()
        payment_service.mark_succeeded(session, payment.id, reason="scanned and paid (test)")
    page.wait_for_url(f"**/topups/{order_id}", timeout=15_000)
    page.wait_for_selector("[data-testid=new-balance]", state="visible")
    assert page.text_content("[data-testid=status]") == "已完成"
