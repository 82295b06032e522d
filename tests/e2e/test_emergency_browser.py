"""Network status and emergency help in a real browser, on a 360 px phone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from roamcard.kit import clock
from roamcard.models import Notification
from roamcard.network import service as network_service
from tests.e2e.conftest import LiveServer
from tests.e2e.test_portal_browser import no_horizontal_scroll, sign_in

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}


class TestNetworkStatus:
    def test_the_dashboard_says_which_network_in_plain_words(
        self, live_server: LiveServer, context_factory: Any
    ) -> None:
        card = live_server.new_card()
        with live_server.database.tx() as tx:
            network_service.seen(tx, card.id, "310", "260", clock.now() - timedelta(minutes=5, seconds=10))
        page = context_factory(locale="zh-CN", **PHONE).new_page()
        sign_in(page, card.card_number)
        page.wait_for_url("**/account")
        status = page.locator("[data-testid=network-status]")
        assert status.inner_text().strip() == "已连接 T-Mobile（美国）· 5 分钟前"
        assert page.locator("[data-testid=network-help]").count() == 0
        assert no_horizontal_scroll(page)
        live_server.shot(page, "network-status-360")

    def test_after_a_quiet_day_it_says_what_to_check(
        self, live_server: LiveServer, context_factory: Any
    ) -> None:
        card = live_server.new_card()
        with live_server.database.tx() as tx:
            network_service.seen(tx, card.id, "440", "10", clock.now() - timedelta(hours=30))
        page = context_factory(**PHONE).new_page()
        sign_in(page, card.card_number)
        page.wait_for_url("**/account")
        assert (
            page.locator("[data-testid=network-status]")
            .inner_text()
            .startswith("On NTT docomo (Japan) · 1 days ago")
        )
        assert "data roaming is on" in page.locator("[data-testid=network-help]").inner_text()
        assert no_horizontal_scroll(page)


class TestEmergencyPage:
    def test_without_signing_in_then_contacts_and_sos(
        self, live_server: LiveServer, context_factory: Any
    ) -> None:
        page = context_factory(**PHONE).new_page()
        page.goto("/")
        page.click("[data-testid=emergency-link]")
        page.wait_for_url("**/emergency")
        assert "+86-10-12308" in page.locator("[data-testid=consular]").inner_text()
        page.select_option("#country", "GB")
        page.click("[data-testid=country-form] button[type=submit]")
        numbers = page.locator("[data-testid=number]").all_inner_texts()
        assert [text.split(" ")[0] for text in numbers] == ["999", "112"]
        assert no_horizontal_scroll(page)
        live_server.shot(page, "emergency-360")

        card = live_server.new_card()
        sign_in(page, card.card_number)
        page.wait_for_url("**/account")
        page.goto("/emergency")
        page.fill("#holder_name", "Li Lei")
        page.fill("#name_0", "Mum")
        page.fill("#phone_0", "+86 139 0013 9001")
        page.click("[data-testid=contacts-form] button[type=submit]")
        page.wait_for_selector("[data-testid=notice]")
        page.click("[data-testid=sos-button]")
        page.wait_for_selector("[data-testid=notice]")
        assert "SOS was sent" in page.locator("[data-testid=notice]").inner_text()
        assert no_horizontal_scroll(page)
        live_server.shot(page, "emergency-signed-in-360")
        with live_server.database.reading() as session:
            sms = session.scalars(
                select(Notification).where(
                    Notification.template == "sos_alert", Notification.card_id == card.id
                )
            ).all()
        assert [(m.phone, m.language) for m in sms] == [
            ("+8613900139001", "en")
        ]  # the page's language by default
        assert "Li Lei" in sms[0].body
