"""Buying a travel card in a real browser (issue 13): the sandbox gateway, the order page that waits for
the card, the password once, then the install page with its QR and manual fields; 360 px and desktop."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import LiveServer
from tests.factories import make_esim_profiles

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}
SCREENS = {
    "360": PHONE,
    "360-zh": {**PHONE, "locale": "zh-CN"},
    "desktop": {"viewport": {"width": 1280, "height": 900}},
}


def no_horizontal_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


@pytest.mark.parametrize("screen", list(SCREENS))
def test_buy_with_the_sandbox_and_land_on_the_install_page(
    live_server: LiveServer, context_factory: Any, screen: str
) -> None:
    with live_server.database.transaction() as session:
        (iccid,) = make_esim_profiles(session, 1)
    context = context_factory(**SCREENS[screen])
    page = context.new_page()
    page.goto("/")
    page.click("[data-testid=buy-card]")
    page.wait_for_url("**/buy")
    if screen.endswith("-zh"):
        assert page.text_content("h1") == "购买远游卡"
    assert no_horizontal_scroll(page)
    live_server.shot(page, f"buy-{screen}")
    page.check("#p-starter-10")
    page.fill("#phone", "+8613800138000")
    page.check("#l-zh-CN" if screen.endswith("-zh") else "#l-en")
    page.check("#m-sandbox")
    page.click("[data-testid=buy-pay]")
    page.wait_for_url("**/sandbox/checkout/**")
    page.click("button[value=approve]")
    page.wait_for_url("**/buy/order")
    page.wait_for_selector("[data-testid=card-password]", timeout=20_000)  # the page polls until issued
    assert page.text_content("[data-testid=card-number]") == iccid
    assert (page.text_content("[data-testid=card-msisdn]") or "").startswith("+1")
    password = page.text_content("[data-testid=card-password]") or ""
    assert len(password) == 8
    assert password.isdigit()
    assert "rc_order" not in page.url
    assert no_horizontal_scroll(page)
    live_server.shot(page, f"card-order-{screen}")

    page.click("[data-testid=install-link]")
    page.wait_for_url("**/esim")
    qr = page.locator("[data-testid=esim-qr] svg")
    qr.wait_for(state="visible")
    box = qr.bounding_box()
    assert box is not None
    assert box["width"] >= 180  # large enough to scan from another screen
    manual = page.locator("[data-testid=esim-manual]")
    assert manual.is_visible()
    assert page.text_content("#esim-smdp") == "smdp.example.com"
    assert (page.text_content("#esim-matching") or "").startswith("RC-")
    assert no_horizontal_scroll(page)
    live_server.shot(page, f"install-after-buying-{screen}")

    page.reload()  # the order page showed the password once; it never does again
    page.goto("/buy/order")
    page.wait_for_url("**/account")
    assert "card-password" not in page.content()
