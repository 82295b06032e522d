"""The portal in a real browser: the flows of issue 3, on a phone-sized and a desktop screen."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from roamcard.models import Notification
from tests.e2e.conftest import LiveServer
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.browser

Page = Any


def sign_in(page: Page, card_number: str, password: str = DEFAULT_PASSWORD) -> None:
    page.goto("/")
    page.fill("#card_number", card_number)
    page.fill("#password", password)
    page.click("[data-testid=login-form] button[type=submit]")


def no_horizontal_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def choose_and_review(page: Page, product_id: str, amount: str | None = None) -> None:
    page.goto("/recharge")
    page.check(f"#p-{product_id}")
    if amount is not None:
        page.fill("#amount", amount)
    page.click("[data-testid=recharge-form] button[type=submit]")


class TestMainFlow:
    def test_recharge_a_data_pack_and_watch_it_complete(
        self, live_server: LiveServer, context_factory: Any
    ) -> None:
        card = live_server.new_card()
        context = context_factory(locale="zh-CN")
        page = context.new_page()
        page.goto("/")
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        live_server.shot(page, "landing-desktop")
        sign_in(page, card.card_number)
        page.wait_for_url("**/account")
        live_server.shot(page, "dashboard-desktop")

        page.goto("/recharge?currency=CNY")
        live_server.shot(page, "recharge-desktop")
        page.check("#p-data-1gb-7d")
        page.click("[data-testid=recharge-form] button[type=submit]")
        assert page.text_content("[data-testid=price]") == "¥36.00"
        live_server.shot(page, "review-desktop")
        page.click("[data-testid=confirm-form] button[type=submit]")
        page.wait_for_url("**/sandbox/checkout/**")

        # A second tab on the order's status page, opened before paying: it must complete by itself.
        watcher = context.new_page()
        watcher.goto("/history")
        watcher.click("[data-testid=records] li a")
        assert watcher.text_content("[data-testid=status]") == "待支付"
        watcher.evaluate("window.__notReloaded = true")

        page.click("button[value=approve]")
        page.wait_for_url("**/topups/top_*")
        watcher.wait_for_selector("[data-testid=new-balance]", state="visible")
        assert watcher.evaluate("window.__notReloaded") is True  # updated in place, no reload
        assert watcher.text_content("[data-testid=status]") == "已完成"
        page.wait_for_selector("[data-testid=receipt-link]", state="visible")
        live_server.shot(page, "status-fulfilled-desktop")

        page.goto("/account")
        assert "1GB 流量包（7 天）" in page.text_content("[data-testid=packs]")
        assert "剩余 1GB 流量" in page.text_content("[data-testid=packs]")
        live_server.shot(page, "dashboard-with-pack-desktop")

        page.goto("/history")
        page.click("[data-testid=records] .rec-receipt")
        assert "¥36.00" in page.text_content("[data-testid=receipt]")
        live_server.shot(page, "receipt-desktop")
        with page.expect_download() as download_info:
            page.click("[data-testid=pdf-link]")
        pdf = download_info.value
        assert pdf.suggested_filename.startswith("roamcard-receipt-top_")
        with open(pdf.path(), "rb") as handle:
            assert handle.read(5) == b"%PDF-"
        page.goto("/history")
        live_server.shot(page, "history-desktop")

    def test_on_a_360px_phone(self, live_server: LiveServer, context_factory: Any) -> None:
        card = live_server.new_card()
        context = context_factory(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
        page = context.new_page()
        page.goto("/")
        assert no_horizontal_scroll(page)
        live_server.shot(page, "landing-360")
        sign_in(page, card.card_number)
        page.wait_for_url("**/account")
        assert no_horizontal_scroll(page)
        live_server.shot(page, "dashboard-360")
        page.goto("/recharge")
        assert no_horizontal_scroll(page)
        live_server.shot(page, "recharge-360")
        page.check("#p-balance-10")
        page.click("[data-testid=recharge-form] button[type=submit]")
        assert page.text_content("[data-testid=price]") == "$10.00"
        assert no_horizontal_scroll(page)
        live_server.shot(page, "review-360")
        page.click("[data-testid=confirm-form] button[type=submit]")
        page.click("button[value=approve]")
        page.wait_for_selector("[data-testid=new-balance]", state="visible")
        assert page.text_content("[data-testid=new-balance]") == "$10.00"
        assert no_horizontal_scroll(page)
        live_server.shot(page, "status-360")
        for path, name in (("/history", "history-360"), ("/settings", "settings-360")):
            page.goto(path)
            assert no_horizontal_scroll(page), path
            live_server.shot(page, name)
        page.click("[data-testid=records] li a") if page.url.endswith("/history") else None
        page.goto("/history")
        page.click("[data-testid=records] .rec-receipt")
        assert no_horizontal_scroll(page)
        live_server.shot(page, "receipt-360")

    def test_without_javascript(self, live_server: LiveServer, context_factory: Any) -> None:
        card = live_server.new_card()
        page = context_factory(java_script_enabled=False).new_page()
        sign_in(page, card.card_number)
        choose_and_review(page, "voice-100min-30d")
        page.click("[data-testid=confirm-form] button[type=submit]")
        page.click("button[value=approve]")
        page.wait_for_url("**/topups/top_*")
        for _ in range(50):  # the status page offers a refresh link instead of updating itself
            if page.locator("[data-testid=refresh]").count() == 0:
                break
            page.wait_for_timeout(100)
            page.click("[data-testid=refresh]")
        assert page.is_visible("[data-testid=receipt-link]")
        page.goto("/account")
        assert "100 minutes" in page.text_content("[data-testid=packs]")


class TestSignIn:
    def test_wrong_password_then_lock_out_using_only_the_keyboard(
        self, live_server: LiveServer, context_factory: Any
    ) -> None:
        card = live_server.new_card()
        page = context_factory().new_page()
        page.goto("/")
        for _ in range(6):  # skip link, home link, language switch, then the card number
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "card_number":
                break
        assert page.evaluate("document.activeElement.id") == "card_number"
        page.keyboard.type(card.card_number)
        page.keyboard.press("Tab")
        page.keyboard.type("11111111")
        page.keyboard.press("Enter")
        page.wait_for_selector("[data-testid=form-error]")
        assert (
            page.text_content("[data-testid=form-error]") == "The card number or service password is wrong."
        )
        assert page.input_value("#password") == ""  # never sent back
        live_server.shot(page, "login-wrong-password")
        for _ in range(4):
            sign_in(page, card.card_number, "11111111")
        assert "Too many wrong passwords. Try again in 15 minutes." in page.text_content(
            "[data-testid=form-error]"
        )
        sign_in(page, card.card_number)  # even the right password now waits
        assert "Too many wrong passwords" in page.text_content("[data-testid=form-error]")
        live_server.shot(page, "login-locked")

    def test_luhn_invalid_card_number_is_marked_on_the_field(
        self, live_server: LiveServer, context_factory: Any
    ) -> None:
        page = context_factory().new_page()
        sign_in(page, "89103900000000000016")
        error = page.locator("#card_number-error")
        assert error.text_content() == "The card number is not valid. Check it for a typing mistake."
        assert "card_number-error" in page.get_attribute("#card_number", "aria-describedby")


class TestRecharge:
    def test_custom_amount_out_of_range(self, live_server: LiveServer, context_factory: Any) -> None:
        card = live_server.new_card()
        page = context_factory().new_page()
        sign_in(page, card.card_number)
        page.goto("/recharge")
        page.fill("#amount", "1")  # typing picks the custom-amount option
        assert page.is_checked("#p-balance-custom")
        page.click("[data-testid=recharge-form] button[type=submit]")
        assert page.text_content("#amount-error") == "Enter an amount between $5.00 and $500.00."
        assert page.get_attribute("#amount", "aria-invalid") == "true"
        assert page.input_value("#amount") == "1"
        live_server.shot(page, "recharge-amount-error")
        page.fill("#amount", "25.50")
        page.click("[data-testid=recharge-form] button[type=submit]")
        assert page.text_content("[data-testid=price]") == "$25.50"


class TestLanguage:
    def test_switch_language_and_keep_it(self, live_server: LiveServer, context_factory: Any) -> None:
        card = live_server.new_card()
        page = context_factory(locale="zh-CN").new_page()
        sign_in(page, card.card_number)
        page.wait_for_url("**/account")
        assert page.locator("h1").text_content() == "我的卡"
        page.click("[data-testid=language-switch]")
        page.wait_for_url("**/account")
        assert page.locator("h1").text_content() == "My card"
        page.goto("/recharge")
        assert page.locator("h1").text_content() == "Recharge"
        live_server.shot(page, "recharge-english")
        page.click("[data-testid=language-switch]")
        assert page.locator("h1").text_content() == "充值"


class TestSettings:
    def test_change_bound_phone_with_the_sms_code(
        self, live_server: LiveServer, context_factory: Any
    ) -> None:
        card = live_server.new_card()
        page = context_factory().new_page()
        sign_in(page, card.card_number)
        page.goto("/settings")
        live_server.shot(page, "settings-desktop")
        page.fill("#phone", "+1 415 555 0199")
        page.fill("#password", DEFAULT_PASSWORD)
        page.click("[data-testid=phone-form] button[type=submit]")
        page.wait_for_url("**/settings/phone")
        assert "+141****0199" in page.text_content("[data-testid=code-sent]")
        page.click("text=Demo mode: see the SMS that would have been sent")
        live_server.shot(page, "demo-sms")
        body = page.locator("[data-testid=sms-body]").first.text_content()
        code = re.search(r"(?<!\d)(\d{6})(?!\d)", body).group(1)  # type: ignore[union-attr]
        page.go_back()
        page.fill("#code", "000000" if code != "000000" else "111111")
        page.click("[data-testid=code-form] button[type=submit]")
        assert page.text_content("#code-error") == "The code is wrong. 4 tries left."
        page.fill("#code", code)
        page.click("[data-testid=code-form] button[type=submit]")
        page.wait_for_url("**/settings?saved=phone")
        assert page.text_content("[data-testid=notice]") == "Your bound phone number has been changed."
        page.goto("/account")
        assert page.text_content("[data-testid=bound-phone]") == "+141****0199"
        with live_server.database.reading() as session:
            phones = session.scalars(select(Notification.phone).where(Notification.card_id == card.id)).all()
        assert "+14155550199" in phones
        assert card.phone in phones
