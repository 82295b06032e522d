"""A promo code at the confirmation step, in a real browser on a 360 px phone screen (issue 12): a wrong
code is explained next to the field, the right one shows the discount and the charge, the sandbox
gateway is paid that charge, and the fulfilled recharge shows the promotion (status page and history)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from roamcard.models import TopupOrder
from roamcard.promotion.service.load import load_campaigns
from tests.e2e.conftest import LiveServer
from tests.e2e.test_portal_browser import no_horizontal_scroll, sign_in

pytestmark = pytest.mark.browser

# Behind a code, so the other browser tests sharing this server see the catalogue's prices.
CAMPAIGN = """
[[campaigns]]
id = "e2e-code-360"
name_zh = "春节充值特惠"
name_en = "Spring Festival offer"
starts_at = "2020-01-01T00:00:00+08:00"
ends_at = "2100-01-01T00:00:00+08:00"
benefit = { kind = "percent_off", percent = 20 }
code = "PHONE360"
"""


# Code-free, so the banner shows it; for a method no other browser test pays with, so their prices hold.
BANNER = """
[[campaigns]]
id = "e2e-banner-360"
name_zh = "国庆流量加赠"
name_en = "National Day bonus data"
starts_at = "2020-01-01T00:00:00+08:00"
ends_at = "2100-01-01T00:00:00+08:00"
benefit = { kind = "bonus_pack", asset = "DATA_BYTES", amount = 1073741824, validity_days = 30, \
value = { CNY = 100 } }
payment_methods = ["alipay"]
status = "{status}"
"""


def _load(live_server: LiveServer, path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    with live_server.database.transaction() as session:
        load_campaigns(session, path)


class TestDashboardBanner:
    def test_on_a_360px_phone_the_banner_names_the_offer_in_the_readers_language(
        self, live_server: LiveServer, context_factory: Any, tmp_path: Path
    ) -> None:
        path = tmp_path / "banner.toml"
        _load(live_server, path, BANNER.replace("{status}", "active"))
        try:
            card = live_server.new_card()
            context = context_factory(
                viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True, locale="zh-CN"
            )
            page = context.new_page()
            sign_in(page, card.card_number)
            page.wait_for_url("**/account")
            offer = page.text_content("[data-testid=offers] [data-testid=offer]")
            assert "国庆流量加赠" in offer
            assert "+1GB 赠送流量" in offer
            assert no_horizontal_scroll(page)
            live_server.shot(page, "dashboard-offers-360")
        finally:
            _load(live_server, path, BANNER.replace("{status}", "ended"))


class TestPromoCodeAtTheConfirmationStep:
    def test_on_a_360px_phone_the_code_gives_the_discount_that_is_paid_and_shown(
        self, live_server: LiveServer, context_factory: Any, tmp_path: Path
    ) -> None:
        path = tmp_path / "campaigns.toml"
        path.write_text(CAMPAIGN, encoding="utf-8")
        with live_server.database.transaction() as session:
            load_campaigns(session, path)
        card = live_server.new_card()
        context = context_factory(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
        page = context.new_page()
        sign_in(page, card.card_number)
        page.wait_for_url("**/account")

        page.goto("/recharge?currency=CNY")
        page.check("#p-data-5gb-30d")
        page.click("[data-testid=recharge-form] button[type=submit]")
        assert page.text_content("[data-testid=price]") == "¥108.00"
        assert page.locator("[data-testid=discount]").count() == 0

        page.fill("#promo_code", "NOTACODE")
        page.click("[data-testid=apply-code]")
        assert page.text_content("[data-testid=promo_code-error]") == (
            "There is no such promo code. Check it and try again."
        )
        assert page.text_content("[data-testid=price]") == "¥108.00"

        page.fill("#promo_code", "phone360")
        page.click("[data-testid=apply-code]")
        assert page.text_content("[data-testid=code-applied]") == "Promo code PHONE360 applied."
        assert page.text_content("[data-testid=list-price]") == "¥108.00"
        assert page.text_content("[data-testid=discount]") == "−¥21.60"
        assert "Spring Festival offer" in page.text_content("[data-testid=review]")
        assert page.text_content("[data-testid=price]") == "¥86.40"
        assert page.text_content("[data-testid=pay]") == "Pay ¥86.40"
        assert no_horizontal_scroll(page)
        live_server.shot(page, "review-promo-code-360")

        page.click("[data-testid=pay]")
        page.wait_for_url("**/sandbox/checkout/**")
        assert "86.40" in page.text_content("body")
        page.click("button[value=approve]")
        page.wait_for_selector("[data-testid=new-balance]", state="visible")
        assert page.text_content("[data-testid=promotion]") == "−¥21.60"
        assert no_horizontal_scroll(page)
        live_server.shot(page, "status-promo-code-360")

        with live_server.database.reading() as session:
            order = session.scalars(select(TopupOrder).where(TopupOrder.card_id == card.id)).one()
            assert (order.status, order.price_amount, order.list_price_amount) == ("fulfilled", 8640, 10800)

        page.goto("/history")
        assert page.text_content("[data-testid=rec-promo]") == "Spring Festival offer −¥21.60"
        assert no_horizontal_scroll(page)
        page.goto(f"/topups/{order.id}/receipt")
        receipt = page.text_content("[data-testid=receipt]")
        assert "Spring Festival offer" in receipt
        assert "−¥21.60" in receipt
        assert no_horizontal_scroll(page)
        live_server.shot(page, "receipt-promo-code-360")
