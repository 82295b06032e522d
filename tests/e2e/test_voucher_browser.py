"""The recharge card tab in a real browser: a PIN typed as printed, on a phone-sized screen."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import LiveServer
from tests.e2e.test_portal_browser import no_horizontal_scroll, sign_in
from tests.voucher.support import make_batch, pin_of

pytestmark = pytest.mark.browser


def test_redeem_a_recharge_card_on_a_360px_phone(live_server: LiveServer, context_factory: Any) -> None:
    card = live_server.new_card()
    batch = make_batch(live_server.database, count=2, face_value=2000, currency="USD")
    context = context_factory(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    sign_in(page, card.card_number)
    page.wait_for_url("**/account")
    page.goto("/recharge")
    page.click("[data-testid=tab-card]")
    page.wait_for_url("**/recharge/card")
    assert page.get_attribute("#pin", "inputmode") == "numeric"
    assert no_horizontal_scroll(page)
    live_server.shot(page, "recharge-card-360")

    page.fill("#pin", "1111 2222 3333 4444")
    page.click("[data-testid=voucher-form] button[type=submit]")
    assert page.text_content("[data-testid=pin-error]") == (
        "This recharge PIN is not valid. Check it and try again."
    )
    assert page.input_value("#pin") == ""  # never sent back
    assert page.get_attribute("#pin", "aria-invalid") == "true"
    assert no_horizontal_scroll(page)
    live_server.shot(page, "recharge-card-error-360")

    page.fill("#pin", pin_of(batch, 0, spaced=True))
    page.click("[data-testid=voucher-form] button[type=submit]")
    page.wait_for_url("**/topups/top_*")
    assert "1111" not in page.url
    page.wait_for_selector("[data-testid=new-balance]", state="visible")
    assert page.text_content("[data-testid=new-balance]") == "$20.00"
    assert page.text_content("[data-testid=status]") == "Completed"
    live_server.shot(page, "recharge-card-done-360")
