"""Sign-in on the lean path: the attempt spent and the card read, argon2 with nothing open, then the count
cleared and the session opened; on PostgreSQL each step is one statement."""

from __future__ import annotations

import pytest

from roamcard.auth import attempts
from roamcard.auth import service as auth_service
from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.kit.clock import FrozenClock
from tests.factories import DEFAULT_PASSWORD, make_card
from tests.statements import record_statements

WRONG = "11111111"


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The first word of every lean statement run from now on."""
    return record_statements(monkeypatch, first_words=True)


@pytest.fixture
def card_number(database: Database) -> str:
    with database.transaction() as session:
        return make_card(session).card_number


def _login(database: Database, card_number: str, password: str) -> auth_service.IssuedToken:
    return auth_service.login(database, card_number=card_number, password=password, client_ip="10.2.0.1")


class TestStatements:
    def test_a_sign_in_is_two_statements_on_postgresql_and_two_short_transactions_on_sqlite(
        self, database: Database, card_number: str, statements: list[str]
    ) -> None:
        issued = _login(database, card_number, DEFAULT_PASSWORD)
        if database.is_sqlite:
            assert statements == ["INSERT", "SELECT", "DELETE", "INSERT"]
        else:
            assert statements == ["WITH", "WITH"]
        with database.autocommit() as tx:
            assert auth_service.signed_in_card(tx, issued.token).card_number == card_number
        with database.reading() as session:
            assert attempts.attempts(session, attempts.CARD, card_number) == 0

    def test_a_locked_number_is_refused_without_reading_the_card(
        self, database: Database, card_number: str, statements: list[str], frozen_clock: FrozenClock
    ) -> None:
        for _ in range(get_settings().login_max_failures):
            with pytest.raises((auth_service.InvalidCredentials, auth_service.LoginLocked)):
                _login(database, card_number, WRONG)
        statements.clear()
        frozen_clock.advance(minutes=5)
        with pytest.raises(auth_service.LoginLocked) as refused:
            _login(database, card_number, DEFAULT_PASSWORD)
        assert refused.value.retry_after_seconds == get_settings().login_lockout_seconds - 5 * 60
        assert statements == (["INSERT", "SELECT"] if database.is_sqlite else ["WITH"])


class TestOutcome:
    def test_a_lock_the_statement_did_not_see_yet_is_a_whole_lock_out(self) -> None:
        assert attempts.outcome(None, None, max_failures=5, lockout_seconds=900) == attempts.Locked(900)

    def test_a_spent_attempt_says_whether_it_was_the_last(self) -> None:
        spent = attempts.outcome(5, None, max_failures=5, lockout_seconds=900)
        assert isinstance(spent, attempts.Reservation)
        assert spent.last
