"""Rotating ROAMCARD_SECRET_KEY (issue 9, item 8): with the previous secret configured, staff logins
(TOTP), tills (dealer signatures), CSRF tokens and pending phone codes keep working; once it is dropped,
only what `roamcard keys rotate` re-encrypted does (CSRF tokens and phone codes simply expire)."""

from __future__ import annotations

import base64
import hashlib

import pyotp
import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from roamcard import cli, config, csrf, keys, rotation
from roamcard.card import password_reset
from roamcard.card import settings as card_settings
from roamcard.db import Database
from roamcard.kit import clock
from roamcard.models import Dealer, PasswordReset, StaffMember
from roamcard.staff import service as staff_service
from roamcard.staff import totp
from tests.backoffice.console import make_staff
from tests.dealer.support import MadeDealer, Till, make_dealer
from tests.partner.support import Platform, make_partner

OLD = "o" * 40
NEW = "n" * 40


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> config.Settings:
    settings = config.get_settings().model_copy(update={"secret_key": SecretStr(OLD)})
    monkeypatch.setattr(keys, "get_settings", lambda: settings)
    monkeypatch.setattr(totp, "get_settings", lambda: settings)
    return settings


def rotate(settings: config.Settings) -> None:
    settings.secret_key = SecretStr(NEW)
    settings.secret_key_previous = SecretStr(OLD)


def drop_previous(settings: config.Settings) -> None:
    settings.secret_key_previous = None


def second_factor(database: Database, member: StaffMember, secret: str) -> None:
    """The TOTP step of a staff sign-in, as the back office runs it."""
    issued = staff_service.sign_in(
        database, email=member.email, password="correct horse battery", client_ip="203.0.113.9"
    )
    with database.transaction() as session:
        context = staff_service.load(session, issued.token, "203.0.113.9", verified=False)
        staff_service.verify_totp(session, context, pyotp.TOTP(secret).at(clock.now()))


def till_accepted(client: TestClient, dealer: MadeDealer) -> bool:
    response = Till(client, dealer).get("/api/v1/pos/topups/no-such-sale")
    assert response.status_code in (401, 404), response.text
    return response.status_code == 404  # signed in, and there is no such sale


class TestStaffLogins:
    def test_keep_working_with_the_previous_key_and_stop_once_it_is_dropped(
        self, database: Database, secrets: config.Settings
    ) -> None:
        member, secret = make_staff(database, "agent")
        rotate(secrets)
        second_factor(database, member, secret)
        drop_previous(secrets)
        with pytest.raises(ValueError, match="cannot be decrypted"):
            second_factor(database, member, secret)

    def test_survive_dropping_the_previous_key_after_keys_rotate(
        self, database: Database, secrets: config.Settings
    ) -> None:
        member, secret = make_staff(database, "agent")
        rotate(secrets)
        report = rotation.rotate(database)
        assert report.ok
        assert report.resealed["staff TOTP secrets"] == 1
        drop_previous(secrets)
        second_factor(database, member, secret)

    def test_secrets_enrolled_before_purpose_keys_still_open_and_are_rewritten(
        self, database: Database, secrets: config.Settings
    ) -> None:
        member, secret = make_staff(database, "agent")
        fernet = Fernet(
            base64.urlsafe_b64encode(hashlib.sha256(b"roamcard-staff-totp:" + OLD.encode()).digest())
        )
        with database.transaction() as session:
            row = session.get(StaffMember, member.id)
            assert row is not None
            row.totp_secret_encrypted = fernet.encrypt(secret.encode()).decode()
        second_factor(database, member, secret)
        assert rotation.rotate(database).resealed["staff TOTP secrets"] == 1
        with database.reading() as session:
            stored = session.get(StaffMember, member.id)
            assert stored is not None
            assert totp.is_current(stored.totp_secret_encrypted or "")


class TestTills:
    def test_keep_working_with_the_previous_key_and_stop_once_it_is_dropped(
        self, database: Database, client: TestClient, secrets: config.Settings
    ) -> None:
        dealer = make_dealer(database, float_amount=0)
        assert till_accepted(client, dealer)
        rotate(secrets)
        assert till_accepted(client, dealer)
        drop_previous(secrets)
        assert not till_accepted(client, dealer)

    def test_survive_dropping_the_previous_key_after_keys_rotate(
        self, database: Database, client: TestClient, secrets: config.Settings
    ) -> None:
        dealer = make_dealer(database, float_amount=0)
        rotate(secrets)
        result = CliRunner().invoke(cli.app, ["keys", "rotate"])
        assert result.exit_code == 0, result.output
        assert "every stored secret is under the current key" in result.output
        drop_previous(secrets)
        assert till_accepted(client, dealer)

    def test_partner_keys_survive_dropping_the_previous_key_after_keys_rotate(
        self, database: Database, client: TestClient, secrets: config.Settings
    ) -> None:
        partner = make_partner(database, float_amount=0)
        rotate(secrets)
        result = CliRunner().invoke(cli.app, ["keys", "rotate"])
        assert result.exit_code == 0, result.output
        drop_previous(secrets)
        response = Platform(client, partner).get("/api/v1/partner/topups/no-such-top-up")
        assert response.status_code == 404, response.text

    def test_the_secret_is_not_derived_from_the_master_secret(
        self, database: Database, client: TestClient, secrets: config.Settings
    ) -> None:
        first, second = make_dealer(database, float_amount=0), make_dealer(database, float_amount=0)
        assert first.secret != second.secret
        with database.reading() as session:
            row = session.get(Dealer, first.id)
            assert row is not None
            assert first.secret not in row.api_secret_encrypted

    def test_keys_rotate_reports_what_no_key_opens_and_exits_1(
        self, database: Database, secrets: config.Settings
    ) -> None:
        make_dealer(database, float_amount=0)
        rotate(secrets)
        drop_previous(secrets)
        result = CliRunner().invoke(cli.app, ["keys", "rotate"])
        assert result.exit_code == 1
        assert "opens with no configured key" in result.output


class TestCsrfTokens:
    def test_keep_working_with_the_previous_key_and_stop_once_it_is_dropped(
        self, secrets: config.Settings
    ) -> None:
        token = csrf.issue("csrf", "browser:abc")
        rotate(secrets)
        assert csrf.valid("csrf", token, ["browser:abc"], max_age_seconds=3600)
        assert csrf.issue("csrf", "browser:abc") != token
        drop_previous(secrets)
        assert not csrf.valid("csrf", token, ["browser:abc"], max_age_seconds=3600)

    def test_a_portal_token_is_not_a_back_office_token(self, secrets: config.Settings) -> None:
        token = csrf.issue("csrf", "browser:abc")
        assert not csrf.valid("staff-csrf", token, ["browser:abc"], max_age_seconds=3600)


class TestPendingPhoneCodes:
    def test_keep_working_with_the_previous_key_and_stop_once_it_is_dropped(
        self, secrets: config.Settings
    ) -> None:
        stored = card_settings._code_hash(7, "123456")
        assert stored.startswith(keys.current("phone-code").key_id + ":")
        rotate(secrets)
        assert card_settings._code_matches(stored, 7, "123456")
        assert not card_settings._code_matches(stored, 7, "123457")
        drop_previous(secrets)
        assert not card_settings._code_matches(stored, 7, "123456")


class TestPendingResetCodes:
    def test_keep_working_with_the_previous_key_and_stop_once_it_is_dropped(
        self, secrets: config.Settings
    ) -> None:
        reset = PasswordReset(id=7, code_hash=password_reset._code_hash(7, "123456"))
        rotate(secrets)
        assert password_reset._code_matches(reset, "123456")
        assert not password_reset._code_matches(reset, "123457")
        drop_previous(secrets)
        assert not password_reset._code_matches(reset, "123456")
