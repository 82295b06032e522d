from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.kit.clock import FrozenClock
from roamcard.models import Card, CardSession, Notification
from tests.factories import DEFAULT_PASSWORD, sms_text
from tests.portal.helpers import field_error, form_error, post_form, sign_in

EN = {"Accept-Language": "en"}
NEW_PHONE = "+14155550123"


def reload(database: Database, card: Card) -> Card:
    with database.reading() as session:
        found = session.get(Card, card.id)
        assert found is not None
        return found


def messages(database: Database, phone: str) -> list[str]:
    with database.reading() as session:
        return [
            sms_text(n)
            for n in session.scalars(
                select(Notification).where(Notification.phone == phone).order_by(Notification.id)
            )
        ]


def sent_code(database: Database) -> str:
    found = re.search(r"(?<!\d)(\d{6})(?!\d)", messages(database, NEW_PHONE)[-1])
    assert found
    return found.group(1)


def change_password(client: TestClient, current: str, new: str, again: str | None = None) -> str:
    data = {"current_password": current, "new_password": new, "confirm_password": again or new}
    response = post_form(client, "/settings", "/settings/password", data, headers=EN)
    return response.headers.get("location") or response.text


class TestChangePassword:
    def test_needs_the_current_password(self, signed_in: TestClient, card: Card, database: Database) -> None:
        html = change_password(signed_in, "00000000", "55556666")
        assert field_error(html, "current_password") == "The current service password is wrong."
        assert reload(database, card).password_hash == card.password_hash

    def test_new_password_must_be_valid_and_typed_twice(self, signed_in: TestClient) -> None:
        assert field_error(change_password(signed_in, DEFAULT_PASSWORD, "12ab"), "new_password") == (
            "The service password may contain digits only."
        )
        assert field_error(
            change_password(signed_in, DEFAULT_PASSWORD, "55556666", "55556667"), "confirm_password"
        ) == ("The two new passwords are not the same.")

    def test_changes_it_ends_other_sessions_and_tells_the_bound_phone(
        self, signed_in: TestClient, app: object, card: Card, database: Database
    ) -> None:
        with TestClient(app) as other_device:  # type: ignore[arg-type]
            sign_in(other_device, card.card_number)
            assert change_password(signed_in, DEFAULT_PASSWORD, "55556666") == "/settings?saved=password"
            assert other_device.get("/account", follow_redirects=False).status_code == 303
        assert signed_in.get("/account").status_code == 200  # this session stays
        assert (
            "password" in messages(database, card.phone)[-1] or "密码" in messages(database, card.phone)[-1]
        )
        assert (
            post_form(
                signed_in, "/", "/login", {"card_number": card.card_number, "password": DEFAULT_PASSWORD}
            ).status_code
            == 401
        )
        sign_in(signed_in, card.card_number, "55556666")
        with database.reading() as session:
            assert (
                len(session.scalars(select(CardSession).where(CardSession.revoked_at.is_(None))).all()) == 2
            )

    def test_guessing_the_current_password_locks_this_form(self, signed_in: TestClient) -> None:
        for _ in range(5):
            change_password(signed_in, "00000000", "55556666")
        html = change_password(signed_in, DEFAULT_PASSWORD, "55556666")
        assert "Too many wrong passwords" in (form_error(html) or "")


class TestChangePhone:
    def test_code_sent_to_the_new_number_binds_it(
        self, signed_in: TestClient, card: Card, database: Database
    ) -> None:
        started = post_form(
            signed_in,
            "/settings",
            "/settings/phone",
            {"phone": "+1 415 555 0123", "password": DEFAULT_PASSWORD},
        )
        assert started.headers["location"] == "/settings/phone"
        page = signed_in.get("/settings/phone", headers=EN).text
        assert "+141****0123" in page
        assert "6-digit code" in page
        confirmed = post_form(
            signed_in, "/settings/phone", "/settings/phone/confirm", {"code": sent_code(database)}
        )
        assert confirmed.headers["location"] == "/settings?saved=phone"
        assert reload(database, card).phone == NEW_PHONE
        assert "+141****0123" in messages(database, card.phone)[-1]  # the old number is told

    def test_a_wrong_code_counts_and_five_use_it_up(
        self, signed_in: TestClient, card: Card, database: Database
    ) -> None:
        post_form(
            signed_in, "/settings", "/settings/phone", {"phone": NEW_PHONE, "password": DEFAULT_PASSWORD}
        )
        code = sent_code(database)
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        first = post_form(
            signed_in, "/settings/phone", "/settings/phone/confirm", {"code": wrong}, headers=EN
        )
        assert field_error(first.text, "code") == "The code is wrong. 4 tries left."
        for _ in range(4):
            last = post_form(
                signed_in, "/settings/phone", "/settings/phone/confirm", {"code": wrong}, headers=EN
            )
        assert field_error(last.text, "code") == "Too many wrong codes. Request a new code."
        right = post_form(signed_in, "/settings/phone", "/settings/phone/confirm", {"code": code}, headers=EN)
        assert right.status_code == 422
        assert reload(database, card).phone == card.phone

    def test_a_code_expires_after_ten_minutes(
        self, signed_in: TestClient, card: Card, database: Database, frozen_clock: FrozenClock
    ) -> None:
        post_form(
            signed_in, "/settings", "/settings/phone", {"phone": NEW_PHONE, "password": DEFAULT_PASSWORD}
        )
        frozen_clock.advance(minutes=10, seconds=1)
        response = post_form(
            signed_in, "/settings/phone", "/settings/phone/confirm", {"code": sent_code(database)}, headers=EN
        )
        assert field_error(response.text, "code") == "This code has expired. Request a new code."
        assert reload(database, card).phone == card.phone

    def test_a_used_form_sent_again_changes_nothing(self, signed_in: TestClient, database: Database) -> None:
        post_form(
            signed_in, "/settings", "/settings/phone", {"phone": NEW_PHONE, "password": DEFAULT_PASSWORD}
        )
        code = sent_code(database)
        post_form(signed_in, "/settings/phone", "/settings/phone/confirm", {"code": code})
        again = post_form(signed_in, "/settings/phone", "/settings/phone/confirm", {"code": code}, headers=EN)
        assert (
            field_error(again.text, "code") == "There is no code waiting to be entered. Request a new code."
        )

    def test_bad_numbers_are_marked(self, signed_in: TestClient, card: Card) -> None:
        html = post_form(
            signed_in,
            "/settings",
            "/settings/phone",
            {"phone": "13800138000", "password": DEFAULT_PASSWORD},
            headers=EN,
        ).text
        assert (
            field_error(html, "phone")
            == "Enter the phone number with its country code, e.g. +86 138 0013 8000."
        )
        same = post_form(
            signed_in,
            "/settings",
            "/settings/phone",
            {"phone": card.phone, "password": DEFAULT_PASSWORD},
            headers=EN,
        ).text
        assert field_error(same, "phone") == "This number is already bound to your card."


class TestLanguageAndTimeZone:
    def test_picked_language_beats_accept_language_and_becomes_the_sms_language(
        self, signed_in: TestClient, card: Card, database: Database
    ) -> None:
        response = post_form(
            signed_in, "/settings", "/language", {"language": "en", "next": "/settings?saved=language"}
        )
        assert response.headers["location"] == "/settings?saved=language"
        page = signed_in.get("/account", headers={"Accept-Language": "zh-CN"})
        assert 'lang="en"' in page.text
        assert page.headers["content-language"] == "en"
        assert reload(database, card).language == "en"

    def test_anyone_can_switch_language(self, client: TestClient) -> None:
        post_form(
            client, "/", "/language", {"language": "en", "next": "/"}, headers={"Accept-Language": "zh-CN"}
        )
        assert 'lang="en"' in client.get("/", headers={"Accept-Language": "zh-CN"}).text

    def test_times_follow_the_chosen_zone(self, signed_in: TestClient) -> None:
        assert (
            post_form(
                signed_in, "/settings", "/settings/timezone", {"timezone": "America/New_York"}
            ).status_code
            == 303
        )
        assert "America/New_York" in signed_in.get("/account", headers=EN).text
        html = post_form(
            signed_in, "/settings", "/settings/timezone", {"timezone": "Mars/Base"}, headers=EN
        ).text
        assert field_error(html, "timezone") == "Choose a time zone from the list."


class TestDemoMessages:
    def test_shows_the_sms_that_would_have_been_sent(self, signed_in: TestClient, database: Database) -> None:
        post_form(
            signed_in, "/settings", "/settings/phone", {"phone": NEW_PHONE, "password": DEFAULT_PASSWORD}
        )
        html = signed_in.get("/demo/sms", headers=EN).text
        assert sent_code(database) in html
        assert "+1 415-555-0123" in html

    def test_is_not_there_outside_demo_mode(
        self, signed_in: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("ROAMCARD_DEMO_MODE", "false")
        get_settings.cache_clear()
        try:
            assert signed_in.get("/demo/sms").status_code == 404
        finally:
            monkeypatch.undo()
            get_settings.cache_clear()


class TestDashboard:
    def test_shows_balance_status_and_masked_phone(self, signed_in: TestClient) -> None:
        html = signed_in.get("/account", headers=EN).text
        assert 'data-testid="balance">$0.00<' in html
        assert "+86138****8000" in html
        assert "Active" in html
        assert "No active packs" in html


class TestRebindingNeedsThePassword:
    """A stolen session alone must not move the bound phone (and then receive a password-reset SMS)."""

    def test_without_the_password_no_code_is_sent(
        self, signed_in: TestClient, card: Card, database: Database
    ) -> None:
        missing = post_form(signed_in, "/settings", "/settings/phone", {"phone": NEW_PHONE}, headers=EN)
        empty = post_form(
            signed_in, "/settings", "/settings/phone", {"phone": NEW_PHONE, "password": ""}, headers=EN
        )
        assert missing.status_code == empty.status_code == 422
        assert field_error(missing.text, "password") == "This field is required."
        assert field_error(empty.text, "password")
        assert messages(database, NEW_PHONE) == []

    def test_a_wrong_password_sends_no_code_and_counts_like_a_wrong_sign_in(
        self, signed_in: TestClient, card: Card, database: Database
    ) -> None:
        for _ in range(4):
            response = post_form(
                signed_in,
                "/settings",
                "/settings/phone",
                {"phone": NEW_PHONE, "password": "00000000"},
                headers=EN,
            )
            assert field_error(response.text, "password") == "The current service password is wrong."
        assert messages(database, NEW_PHONE) == []
        locked = post_form(
            signed_in,
            "/settings",
            "/settings/phone",
            {"phone": NEW_PHONE, "password": "00000000"},
            headers=EN,
        )
        assert locked.status_code == 429
        web = signed_in.post(
            "/api/v1/sessions", json={"card_number": card.card_number, "password": DEFAULT_PASSWORD}
        )
        assert web.json()["code"] == "login_locked"
        assert messages(database, NEW_PHONE) == []
        assert reload(database, card).phone == card.phone


class TestCloseCard:
    def test_the_page_warns_in_chinese_and_needs_the_box_and_the_password(
        self, signed_in: TestClient, card: Card, database: Database
    ) -> None:
        page = signed_in.get("/settings/close", headers={"Accept-Language": "zh-CN"}).text
        assert "注销后无法恢复" in page
        html = post_form(
            signed_in,
            "/settings/close",
            "/settings/close",
            {"current_password": "00000000", "confirm": "yes"},
        ).text
        assert field_error(html, "current_password") is not None
        assert reload(database, card).status == "active"

    def test_closing_signs_out_and_the_card_is_closed(
        self, signed_in: TestClient, card: Card, database: Database
    ) -> None:
        response = post_form(
            signed_in,
            "/settings/close",
            "/settings/close",
            {"current_password": DEFAULT_PASSWORD, "confirm": "yes"},
            headers=EN,
        )
        assert response.status_code == 303
        assert reload(database, card).status == "closed"
        assert signed_in.get("/settings", headers=EN).status_code in (303, 200)
