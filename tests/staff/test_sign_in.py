"""Back-office sign-in: argon2id passwords, TOTP enrolment (QR) and login, replay and lock-outs, session
timeouts, CSRF, cookie flags and the CSP."""

from __future__ import annotations

import re

import pyotp
import pytest
from fastapi.testclient import TestClient

from roamcard import i18n
from roamcard.db import Database
from roamcard.kit.clock import FrozenClock
from roamcard.models import StaffMember
from roamcard.staff import totp
from tests.backoffice.console import STAFF_PASSWORD, audit_actions, code, csrf, make_staff, sign_in


def _login(client: TestClient, email: str, password: str = STAFF_PASSWORD) -> object:
    page = client.get("/admin/login")
    return client.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )


def _staff(database: Database, member: StaffMember) -> StaffMember:
    with database.reading() as session:
        fresh = session.get(StaffMember, member.id)
        assert fresh is not None
        return fresh


class TestAccounts:
    def test_passwords_are_argon2id_hashes(self, database: Database) -> None:
        member, _ = make_staff(database, "agent")
        assert member.password_hash.startswith("$argon2id$")
        assert STAFF_PASSWORD not in member.password_hash

    def test_the_totp_secret_is_encrypted_at_rest(self, database: Database) -> None:
        member, secret = make_staff(database, "agent")
        stored = _staff(database, member).totp_secret_encrypted
        assert stored is not None
        assert secret not in stored
        assert totp.decrypt(stored) == secret


class TestEnrolment:
    def test_first_sign_in_enrols_an_authenticator_from_a_qr_code(
        self, client: TestClient, database: Database, frozen_clock: FrozenClock
    ) -> None:
        member, _ = make_staff(database, "agent", enrolled=False)
        response = _login(client, member.email)
        assert response.headers["location"] == "/admin/enrol"  # type: ignore[attr-defined]
        assert client.get("/admin", follow_redirects=False).headers["location"] == "/admin/totp"

        page = client.get("/admin/enrol")
        assert page.status_code == 200
        assert 'src="data:image/svg+xml;base64,' in page.text
        secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page.text).group(1)  # type: ignore[union-attr]
        assert client.get("/admin/enrol").text.count(secret) == 1  # the same secret until confirmed

        wrong = client.post("/admin/enrol", data={"code": "000000", "csrf_token": csrf(page.text)})
        assert wrong.status_code == 401
        assert _staff(database, member).totp_enrolled_at is None

        ok = client.post(
            "/admin/enrol",
            data={"code": pyotp.TOTP(secret).at(frozen_clock.current), "csrf_token": csrf(page.text)},
            follow_redirects=False,
        )
        assert ok.headers["location"] == "/admin"
        enrolled = _staff(database, member)
        assert enrolled.totp_enrolled_at is not None
        assert totp.decrypt(enrolled.totp_secret_encrypted or "") == secret
        assert client.get("/admin").status_code == 200
        assert audit_actions(database) == ["staff.totp_failed", "staff.totp_enrolled", "staff.sign_in"]

    def test_an_enrolled_account_is_never_shown_its_secret_again(
        self, client: TestClient, database: Database
    ) -> None:
        member, secret = make_staff(database, "agent")
        _login(client, member.email)
        response = client.get("/admin/enrol", follow_redirects=False)
        assert response.headers["location"] == "/admin/totp"
        assert secret not in client.get("/admin/totp").text


class TestTwoFactorLogin:
    def test_password_then_code(
        self, client: TestClient, database: Database, frozen_clock: FrozenClock
    ) -> None:
        member, secret = make_staff(database, "agent")
        sign_in(client, member, secret)
        assert client.get("/admin").status_code == 200
        assert audit_actions(database) == ["staff.sign_in"]

    def test_the_password_alone_opens_nothing(self, client: TestClient, database: Database) -> None:
        member, _ = make_staff(database, "agent")
        _login(client, member.email)
        for path in ("/admin", "/admin/audit", "/admin/cards/89103900000000000015"):
            assert client.get(path, follow_redirects=False).headers["location"] == "/admin/totp"

    def test_a_wrong_code_is_refused_and_audited(self, client: TestClient, database: Database) -> None:
        member, secret = make_staff(database, "agent")
        _login(client, member.email)
        page = client.get("/admin/totp")
        wrong = str((int(code(secret)) + 1) % 1_000_000).zfill(6)
        response = client.post("/admin/totp", data={"code": wrong, "csrf_token": csrf(page.text)})
        assert response.status_code == 401
        assert client.get("/admin", follow_redirects=False).headers["location"] == "/admin/totp"
        assert audit_actions(database) == ["staff.totp_failed"]

    def test_a_code_is_never_accepted_twice(
        self, client: TestClient, database: Database, frozen_clock: FrozenClock
    ) -> None:
        member, secret = make_staff(database, "agent")
        sign_in(client, member, secret)
        other = TestClient(client.app)
        _login(other, member.email)
        page = other.get("/admin/totp")
        replay = other.post("/admin/totp", data={"code": code(secret), "csrf_token": csrf(page.text)})
        assert replay.status_code == 401
        frozen_clock.advance(seconds=30)
        assert sign_in(other, member, secret).get("/admin").status_code == 200

    def test_too_many_wrong_codes_lock_the_second_step(self, client: TestClient, database: Database) -> None:
        member, secret = make_staff(database, "agent")
        _login(client, member.email)
        page = client.get("/admin/totp")
        for _ in range(5):
            client.post("/admin/totp", data={"code": "000000", "csrf_token": csrf(page.text)})
        locked = client.post("/admin/totp", data={"code": code(secret), "csrf_token": csrf(page.text)})
        assert locked.status_code == 429


class TestPasswordLockOut:
    def test_wrong_passwords_then_a_lock_out(self, client: TestClient, database: Database) -> None:
        member, _ = make_staff(database, "agent")
        for _ in range(4):
            assert _login(client, member.email, "wrong password!").status_code == 401  # type: ignore[attr-defined]
        assert _login(client, member.email, "wrong password!").status_code == 429  # type: ignore[attr-defined]
        assert _login(client, member.email).status_code == 429  # type: ignore[attr-defined]
        assert audit_actions(database) == ["staff.sign_in_failed"] * 5

    def test_an_unknown_email_gets_the_same_answer(self, client: TestClient, database: Database) -> None:
        response = _login(client, "nobody@roamcard.test")
        assert response.status_code == 401  # type: ignore[attr-defined]
        assert i18n.gettext("The email or password is wrong.", "zh-CN") in response.text  # type: ignore[attr-defined]
        assert 'name="email"' in response.text  # type: ignore[attr-defined]


class TestSessionTimeout:
    def test_idle_sessions_end(
        self, client: TestClient, database: Database, frozen_clock: FrozenClock
    ) -> None:
        member, secret = make_staff(database, "agent")
        sign_in(client, member, secret)
        frozen_clock.advance(minutes=14)
        assert client.get("/admin").status_code == 200  # activity restarts the idle clock
        frozen_clock.advance(minutes=14)
        assert client.get("/admin").status_code == 200
        frozen_clock.advance(minutes=15, seconds=1)
        response = client.get("/admin", follow_redirects=False)
        assert response.headers["location"] == "/admin/login?expired=1"
        assert client.get("/admin", follow_redirects=False).headers["location"] == "/admin/login"

    def test_busy_sessions_end_after_the_maximum(
        self, client: TestClient, database: Database, frozen_clock: FrozenClock
    ) -> None:
        member, secret = make_staff(database, "agent")
        sign_in(client, member, secret)
        for _ in range(47):  # every 10 minutes for 7 h 50 min
            frozen_clock.advance(minutes=10)
            assert client.get("/admin").status_code == 200
        frozen_clock.advance(minutes=10)
        assert client.get("/admin", follow_redirects=False).headers["location"] == "/admin/login?expired=1"

    def test_sign_out_ends_the_session(self, client: TestClient, database: Database) -> None:
        member, secret = make_staff(database, "agent")
        sign_in(client, member, secret)
        page = client.get("/admin")
        client.post("/admin/logout", data={"csrf_token": csrf(page.text)})
        assert client.get("/admin", follow_redirects=False).headers["location"] == "/admin/login"
        assert audit_actions(database)[-1] == "staff.sign_out"


class TestBrowserProtections:
    def test_cookies_are_http_only_same_site_strict_and_scoped(
        self, client: TestClient, database: Database
    ) -> None:
        member, _ = make_staff(database, "agent")
        cookie = _login(client, member.email).headers["set-cookie"]  # type: ignore[attr-defined]
        assert "rc_staff=" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Path=/admin" in cookie

    def test_pages_carry_a_csp_and_are_not_cached_or_framed(
        self, client: TestClient, database: Database
    ) -> None:
        response = client.get("/admin/login")
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
        assert "<script" not in response.text

    @pytest.mark.parametrize("token", [None, "", "1.forged", "9999999999.abc"])
    def test_a_form_without_a_valid_csrf_token_is_refused(
        self, client: TestClient, database: Database, token: str | None
    ) -> None:
        member, _ = make_staff(database, "agent")
        client.get("/admin/login")
        data = {"email": member.email, "password": STAFF_PASSWORD}
        if token is not None:
            data["csrf_token"] = token
        response = client.post("/admin/login", data=data, follow_redirects=False)
        assert response.status_code == 403
        assert "rc_staff=" not in response.headers.get("set-cookie", "")

    def test_a_token_from_another_browser_is_refused(self, client: TestClient, database: Database) -> None:
        member, _ = make_staff(database, "agent")
        token = csrf(TestClient(client.app).get("/admin/login").text)
        client.get("/admin/login")
        response = client.post(
            "/admin/login", data={"email": member.email, "password": STAFF_PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 403
