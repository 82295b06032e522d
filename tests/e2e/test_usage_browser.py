"""The usage page and the dashboard's alert banner in a real browser, on a 360 px phone."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from roamcard.ledger.assets import Asset
from roamcard.models import Card
from tests.charging.helpers import DATA, MIB, VOICE, credit_balance, give_pack, subscriber
from tests.charging.test_alerts import _element, _use
from tests.e2e.conftest import LiveServer
from tests.e2e.test_portal_browser import no_horizontal_scroll, sign_in

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}


class TestUsagePage:
    def test_the_banner_then_usage_per_day_with_what_paid(
        self, live_server: LiveServer, context_factory: Any
    ) -> None:
        database = live_server.database
        sub = subscriber(database, catalog=False)
        with database.reading() as session:
            number = session.scalars(select(Card.card_number).where(Card.id == sub.card_id)).one()
        give_pack(
            database, sub.card_id, Asset.DATA_BYTES, 10 * MIB, product_id="data-1gb-7d", days=7, key="bp"
        )
        credit_balance(database, sub.card_id, 250, f"seed-{sub.card_id}")  # 196 left after 4 + 50
        element_id = _element(database, f"pgw-browser-{sub.card_id}")
        _use(database, element_id, sub.imsi, DATA, "totalVolume", 12 * MIB)  # the pack, then 2 MiB of balance
        _use(database, element_id, sub.imsi, VOICE, "time", 120)

        page = context_factory(locale="zh-CN", **PHONE).new_page()
        sign_in(page, number)
        page.wait_for_url("**/account")
        kinds = [item.get_attribute("data-kind") for item in page.locator("[data-testid=usage-alert]").all()]
        assert kinds == ["pack_used_100", "low_balance"]
        assert "已用完" in page.locator("[data-testid=usage-alerts]").inner_text()
        assert no_horizontal_scroll(page)
        live_server.shot(page, "usage-alerts-360")

        page.click("[data-testid=usage-link]")
        page.wait_for_url("**/usage")
        rows = page.locator("[data-testid=usage-row]")
        assert rows.count() == 2
        assert [rows.nth(i).get_attribute("data-kind") for i in range(2)] == ["data", "voice"]
        paid = page.locator("[data-testid=usage-paid]").all_inner_texts()
        assert any("由套餐" in line for line in paid)
        assert any("由余额支付" in line for line in paid)
        assert no_horizontal_scroll(page)
        live_server.shot(page, "usage-360")

        page.fill("#from", "2020-01-01")
        page.fill("#to", "2020-01-02")
        page.click("[data-testid=usage-filter] button[type=submit]")
        page.wait_for_selector("[data-testid=usage-empty]")
