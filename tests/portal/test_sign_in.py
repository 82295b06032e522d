from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from roamcard.auth import attempts
from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.kit.clock import FrozenClock
from roamcard.models import Card, CardSession
from tests.factories import DEFAULT_PASSWORD
from tests.portal.helpers import csrf, field_error, form_error, post_form, sign_in

WRONG = "The card number or service password is wrong."
WRONG_ZH = "卡号或服务密码错误。"


def failed_logins(database: Database, card: Card) -> int:
    with database.reading() as session:
        return attempts.attempts(session, attempts.CARD, card.card_number)


class TestLandingPage:
    def test_follows_accept_language(self, client: TestClient) -> None:
        english = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"})
        chinese = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
        assert 'lang="en"' in english.text
        assert "Four ways to recharge" in english.text
        assert 'lang="zh-CN"' in chinese.text
        assert "四种充值方式" in chinese.text
        assert english.headers["content-language"] == "en"

    def test_explains_the_card_channels_and_where_to_find_credentials(self, client: TestClient) -> None:
        html = client.get("/", headers={"Accept-Language": "en"}).text
        for text in (
            "This website",
            "Alipay and WeChat Pay",
            "Customer-service phone line",
            "Shops and recharge cards",
        ):
            assert text in html
        assert "Where to find your card number and password" in html
        assert 'action="/login"' in html
        assert csrf(html)

    def test_inputs_are_labelled(self, client: TestClient) -> None:
        html = client.get("/").text
        for name in ("card_number", "password"):
            assert f'<label for="{name}">' in html
            assert f'id="{name}"' in html

    def test_strict_security_headers_and_no_inline_code(self, client: TestClient) -> None:
        response = client.get("/")
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert not re.search(r"<script(?![^>]*\bsrc=)", response.text)
        assert " style=" not in response.text
        assert "<style" not in response.text
        assert len(response.content) < 100_000


class TestSignIn:
    def test_right_password_opens_the_card_with_a_safe_cookie(self, client: TestClient, card: Card) -> None:
        response = sign_in(client, card.card_number)
        assert response.headers["location"] == "/account"
        cookie = response.headers["set-cookie"]
        assert "rc_session=" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert "Secure" not in cookie  # served over http in tests
        assert client.get("/account").status_code == 200

    def test_cookie_is_secure_when_the_site_is_https(
        self, app: object, card: Card, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("ROAMCARD_PUBLIC_BASE_URL", "https://portal.example")
        get_settings.cache_clear()
        try:
            with TestClient(app, base_url="https://portal.example") as browser:  # type: ignore[arg-type]
                response = sign_in(browser, card.card_number)
        finally:
            monkeypatch.undo()
            get_settings.cache_clear()
        assert "Secure" in response.headers["set-cookie"]

    def test_goes_back_to_the_page_asked_for_but_never_off_site(self, client: TestClient, card: Card) -> None:
        ok = post_form(
            client,
            "/",
            "/login",
            {"card_number": card.card_number, "password": DEFAULT_PASSWORD, "next": "/history"},
        )
        assert ok.headers["location"] == "/history"
        evil = post_form(
            client,
            "/",
            "/login",
            {"card_number": card.card_number, "password": DEFAULT_PASSWORD, "next": "//evil.example/"},
        )
        assert evil.headers["location"] == "/account"

    def test_wrong_password_and_unknown_card_get_one_generic_message(
        self, client: TestClient, card: Card, database: Database
    ) -> None:
        headers = {"Accept-Language": "en"}
        wrong_password = post_form(
            client, "/", "/login", {"card_number": card.card_number, "password": "99999999"}, headers=headers
        )
        unknown = post_form(
            client,
            "/",
            "/login",
            {"card_number": "89103900000000000015", "password": "99999999"},
            headers=headers,
        )
        assert wrong_password.status_code == unknown.status_code == 401
        assert form_error(wrong_password.text) == form_error(unknown.text) == WRONG
        assert failed_logins(database, card) == 1  # the failure is recorded although the request failed
        assert "rc_session" not in wrong_password.headers.get("set-cookie", "")

    def test_message_is_in_chinese_for_chinese_browsers(self, client: TestClient, card: Card) -> None:
        response = post_form(
            client,
            "/",
            "/login",
            {"card_number": card.card_number, "password": "99999999"},
            headers={"Accept-Language": "zh-CN"},
        )
        assert form_error(response.text) == WRONG_ZH

    def test_luhn_invalid_card_number_is_marked_next_to_the_field(
        self, client: TestClient, card: Card, database: Database
    ) -> None:
        bad = card.card_number[:-1] + str((int(card.card_number[-1]) + 1) % 10)
        response = post_form(
            client,
            "/",
            "/login",
            {"card_number": bad, "password": DEFAULT_PASSWORD},
            headers={"Accept-Language": "en"},
        )
        assert response.status_code == 422
        assert (
            field_error(response.text, "card_number")
            == "The card number is not valid. Check it for a typing mistake."
        )
        assert 'aria-describedby="card_number-hint card_number-error"' in response.text
        assert 'aria-invalid="true"' in response.text
        assert bad in response.text  # kept for correcting
        assert failed_logins(database, card) == 0

    def test_empty_password_is_marked_and_never_echoed(self, client: TestClient, card: Card) -> None:
        response = post_form(
            client,
            "/",
            "/login",
            {"card_number": card.card_number, "password": ""},
            headers={"Accept-Language": "en"},
        )
        assert field_error(response.text, "password") == "Enter the service password."

    def test_five_wrong_passwords_lock_the_card_like_the_api(
        self, client: TestClient, card: Card, frozen_clock: FrozenClock
    ) -> None:
        for _ in range(4):
            post_form(client, "/", "/login", {"card_number": card.card_number, "password": "11111111"})
        locked = post_form(
            client,
            "/",
            "/login",
            {"card_number": card.card_number, "password": "11111111"},
            headers={"Accept-Language": "en"},
        )
        assert locked.status_code == 429
        assert "Try again in 15 minutes" in (form_error(locked.text) or "")
        still = post_form(
            client, "/", "/login", {"card_number": card.card_number, "password": DEFAULT_PASSWORD}
        )
        assert still.status_code == 429
        frozen_clock.advance(minutes=16)
        assert (
            post_form(
                client, "/", "/login", {"card_number": card.card_number, "password": DEFAULT_PASSWORD}
            ).status_code
            == 303
        )

    def test_password_is_never_in_a_url_or_the_log(
        self, client: TestClient, card: Card, capsys: pytest.CaptureFixture[str]
    ) -> None:
        secret = "73914628"
        response = post_form(client, "/", "/login", {"card_number": card.card_number, "password": secret})
        ok = sign_in(client, card.card_number)
        captured = capsys.readouterr()
        assert secret not in captured.out + captured.err
        assert DEFAULT_PASSWORD not in captured.out + captured.err
        assert secret not in response.text
        assert DEFAULT_PASSWORD not in ok.headers["location"]


class TestForms:
    def test_a_form_without_a_valid_token_changes_nothing(
        self, client: TestClient, card: Card, database: Database
    ) -> None:
        client.get("/")
        response = client.post(
            "/login",
            data={"card_number": card.card_number, "password": "99999999", "csrf_token": "1.forged"},
            headers={"Accept-Language": "en"},
        )
        assert response.status_code == 403
        assert form_error(response.text) == (
            "This form has expired or was already used. Check the details and send it again."
        )
        assert failed_logins(database, card) == 0

    def test_an_old_form_has_expired(
        self, client: TestClient, card: Card, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        token = csrf(client.get("/").text)
        import roamcard.csrf
        import roamcard.portal.security as security

        issued = int(token.split(".")[0])
        monkeypatch.setattr(roamcard.csrf.time, "time", lambda: issued + security.CSRF_MAX_AGE_SECONDS + 5)
        response = client.post(
            "/login",
            data={"card_number": card.card_number, "password": DEFAULT_PASSWORD, "csrf_token": token},
        )
        assert response.status_code == 403

    def test_a_token_from_another_browser_is_refused(
        self, client: TestClient, app: object, card: Card
    ) -> None:
        token = csrf(client.get("/").text)
        with TestClient(app) as other:  # type: ignore[arg-type]
            other.get("/")
            response = other.post(
                "/login",
                data={"card_number": card.card_number, "password": DEFAULT_PASSWORD, "csrf_token": token},
            )
        assert response.status_code == 403


class TestSession:
    def test_pages_need_a_session(self, client: TestClient) -> None:
        response = client.get("/account", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/?next=%2Faccount"

    def test_an_ended_session_says_so_and_changes_nothing(
        self, signed_in: TestClient, database: Database, frozen_clock: FrozenClock
    ) -> None:
        token = csrf(signed_in.get("/recharge").text)
        frozen_clock.advance(seconds=get_settings().session_ttl_seconds + 1)
        page = signed_in.get("/account", headers={"Accept-Language": "en"})
        assert "Your session has ended. Sign in again." in page.text
        assert signed_in.cookies.get("rc_session") is None  # cleared
        signed_in.cookies.set("rc_session", "rc_expired")
        posted = signed_in.post(
            "/recharge/review",
            data={
                "product_id": "data-1gb-7d",
                "currency": "USD",
                "payment_method": "sandbox",
                "csrf_token": token,
            },
            headers={"Accept-Language": "en"},
        )
        assert posted.status_code == 401
        assert 'action="/login"' in posted.text

    def test_sign_out_ends_the_session(self, signed_in: TestClient, database: Database) -> None:
        response = post_form(signed_in, "/settings", "/logout", {})
        assert response.status_code == 303
        assert signed_in.get("/account", follow_redirects=False).status_code == 303
        with database.reading() as session:
            assert all(s.revoked_at is not None for s in session.query(CardSession).all())

    def test_signed_in_visitors_see_their_card_link_on_the_landing_page(self, signed_in: TestClient) -> None:
        html = signed_in.get("/", headers={"Accept-Language": "en"}).text
        assert "Go to my card" in html
        assert 'action="/login"' not in html

    def test_expired_card_session_token_is_not_accepted(
        self, signed_in: TestClient, frozen_clock: FrozenClock
    ) -> None:
        frozen_clock.advance(seconds=get_settings().session_ttl_seconds + 1)
        assert signed_in.get("/history", follow_redirects=False).headers["location"].endswith("ended=1")
        assert timedelta(seconds=1)  # keeps the import honest for readers: time moved by the clock only
