"""Sign-in limits (issue 9, item 5) and passwords checked outside write transactions (item 6)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from roamcard.auth import attempts
from roamcard.auth import service as auth_service
from roamcard.card import numbers, passwords
from roamcard.card import settings as card_settings
from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.errors import AppError
from roamcard.kit.clock import FrozenClock
from roamcard.models import Card
from roamcard.staff import service as staff_service
from tests.backoffice.console import STAFF_PASSWORD, make_staff
from tests.factories import DEFAULT_PASSWORD, make_card

WRONG = "11111111"


def login(client: TestClient, card_number: str, password: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/sessions",
        json={"card_number": card_number, "password": password},
        headers={"Accept-Language": "en"},
    )


class VerifyCounter:
    """Counts calls to the argon2 verification (the real one still runs)."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()
        self._real = passwords.verify_password

    def __call__(self, password_hash: str, password: str) -> bool:
        with self._lock:
            self.calls += 1
        return self._real(password_hash, password)


@pytest.fixture
def verify_calls(monkeypatch: pytest.MonkeyPatch) -> VerifyCounter:
    counter = VerifyCounter()
    monkeypatch.setattr(passwords, "verify_password", counter)
    return counter


@pytest.fixture
def settings_override(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    def override(**values: object) -> None:
        for name, value in values.items():
            monkeypatch.setattr(get_settings(), name, value)

    return override


class TestUnknownNumbersLookIssued:
    def test_an_unknown_and_an_issued_number_answer_alike_and_both_run_argon2(
        self, client: TestClient, database: Database, verify_calls: VerifyCounter, frozen_clock: FrozenClock
    ) -> None:
        with database.transaction() as session:
            issued = make_card(session).card_number
        unknown = numbers.new_card_number(serial=777_000_001)

        def tries(number: str) -> list[tuple[int, str, str | None]]:
            answers = []
            for _ in range(8):
                response = login(client, number, WRONG)
                answers.append(
                    (response.status_code, response.json()["detail"], response.headers.get("Retry-After"))
                )
            return answers

        before = verify_calls.calls
        issued_answers = tries(issued)
        issued_checks = verify_calls.calls - before
        unknown_answers = tries(unknown)
        unknown_checks = verify_calls.calls - before - issued_checks
        assert [a[0] for a in issued_answers] == [401, 401, 401, 401, 429, 429, 429, 429]
        assert unknown_answers == issued_answers
        assert issued_checks == unknown_checks == 5  # argon2 (a dummy hash for the unknown number) each time

    def test_an_unknown_staff_email_answers_like_a_real_one(
        self, client: TestClient, database: Database, verify_calls: VerifyCounter
    ) -> None:
        member, _ = make_staff(database, "agent")

        def tries(email: str) -> list[int]:
            statuses = []
            for _ in range(8):
                page = client.get("/admin/login")
                token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
                response = client.post(
                    "/admin/login",
                    data={"email": email, "password": "wrong password!", "csrf_token": token},
                    follow_redirects=False,
                )
                statuses.append(response.status_code)
            return statuses

        before = verify_calls.calls
        real = tries(member.email)
        real_checks = verify_calls.calls - before
        unknown = tries("nobody@roamcard.test")
        assert real == [401, 401, 401, 401, 429, 429, 429, 429]
        assert unknown == real
        assert verify_calls.calls - before - real_checks == real_checks == 5


class TestParallelGuesses:
    def test_twenty_parallel_wrong_passwords_get_at_most_five_checks(
        self, database: Database, verify_calls: VerifyCounter
    ) -> None:
        with database.transaction() as session:
            card_number = make_card(session).card_number
        outcomes: list[str] = []
        start = threading.Barrier(20)

        def guess(index: int) -> None:
            start.wait()
            try:
                auth_service.login(
                    database, card_number=card_number, password=WRONG, client_ip=f"10.0.0.{index}"
                )
            except AppError as error:
                outcomes.append(error.code)

        threads = [threading.Thread(target=guess, args=(i,)) for i in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert verify_calls.calls <= 5
        assert len(outcomes) == 20
        assert outcomes.count("invalid_credentials") <= 4
        with pytest.raises(auth_service.LoginLocked):
            auth_service.login(
                database, card_number=card_number, password=DEFAULT_PASSWORD, client_ip="10.0.1.1"
            )

    def test_twenty_parallel_wrong_staff_passwords_get_at_most_five_checks(
        self, database: Database, verify_calls: VerifyCounter
    ) -> None:
        member, _ = make_staff(database, "agent")
        start = threading.Barrier(20)

        def guess(index: int) -> None:
            start.wait()
            with contextlib.suppress(AppError):
                staff_service.sign_in(
                    database, email=member.email, password="wrong password!", client_ip=f"10.0.0.{index}"
                )

        threads = [threading.Thread(target=guess, args=(i,)) for i in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert verify_calls.calls <= 5


class TestClientLimits:
    def test_many_travellers_behind_one_address_do_not_lock_each_other_out(
        self, client: TestClient, database: Database
    ) -> None:
        """The old per-IP limit (30 failures) locked a whole airport NAT out; now it is per (IP, card)."""
        with database.transaction() as session:
            cards = [make_card(session).card_number for _ in range(11)]
        for number in cards[:10]:
            for _ in range(4):
                assert login(client, number, WRONG).status_code == 401
        assert login(client, cards[10], DEFAULT_PASSWORD).status_code == 201

    def test_wrong_passwords_are_limited_per_address_and_card(
        self, client: TestClient, database: Database, settings_override: Callable[..., None]
    ) -> None:
        settings_override(login_ip_max_failures=3)
        with database.transaction() as session:
            card, other = make_card(session).card_number, make_card(session).card_number
        for _ in range(3):
            assert login(client, card, WRONG).status_code == 401
        blocked = login(client, card, DEFAULT_PASSWORD)
        assert (blocked.status_code, blocked.json()["code"]) == (429, "login_locked")
        assert "Retry-After" in blocked.headers
        assert login(client, other, DEFAULT_PASSWORD).status_code == 201  # same address, other card
        with pytest.raises(AppError):  # nothing to do with the card's own lock: another address gets in
            auth_service.login(database, card_number=card, password=WRONG, client_ip="192.0.2.9")
        issued = auth_service.login(
            database, card_number=card, password=DEFAULT_PASSWORD, client_ip="192.0.2.9"
        )
        assert issued.card.card_number == card

    def test_one_address_has_a_ceiling_over_every_card(
        self, client: TestClient, database: Database, settings_override: Callable[..., None]
    ) -> None:
        settings_override(login_ip_limit=10)
        with database.transaction() as session:
            cards = [make_card(session).card_number for _ in range(4)]
        statuses = [login(client, cards[i // 3], WRONG).status_code for i in range(10)]
        assert set(statuses) == {401}
        blocked = login(client, cards[3], DEFAULT_PASSWORD)
        assert (blocked.status_code, blocked.json()["code"]) == (429, "login_locked")

    def test_the_ceiling_defaults_to_300_per_15_minutes(self) -> None:
        settings = get_settings()
        assert (settings.login_ip_limit, settings.login_ip_window_seconds) == (300, 15 * 60)


class SlowVerify:
    """Holds the first argon2 check until released, so the test can write while it runs."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self._real = passwords.verify_password

    def __call__(self, password_hash: str, password: str) -> bool:
        self.started.set()
        assert self.release.wait(timeout=60)
        return self._real(password_hash, password)


def _sign_in_card(database: Database, client: TestClient, card: Card) -> None:
    auth_service.login(
        database, card_number=card.card_number, password=DEFAULT_PASSWORD, client_ip="10.1.1.1"
    )


def _change_password(database: Database, client: TestClient, card: Card) -> None:
    card_settings.change_password(database, card, current_password=DEFAULT_PASSWORD, new_password="55556666")


def _start_phone_change(database: Database, client: TestClient, card: Card) -> None:
    card_settings.start_phone_change(
        database, card, new_phone="+14155550123", current_password=DEFAULT_PASSWORD
    )


def _staff_sign_in(database: Database, client: TestClient, card: Card) -> None:
    member, _ = make_staff(database, "agent", enrolled=False, email="slow@roamcard.test")
    staff_service.sign_in(database, email=member.email, password=STAFF_PASSWORD, client_ip="10.1.1.1")


def _hotline(database: Database, client: TestClient, card: Card) -> None:
    from tests.ivr.phone import Phone

    turn = Phone(client).sign_in(card.card_number, DEFAULT_PASSWORD)
    assert turn.gather is not None  # signed in: the menu waits for a key


class TestPasswordChecksHoldNoWriteLock:
    @pytest.mark.parametrize(
        "check",
        [_sign_in_card, _change_password, _start_phone_change, _staff_sign_in, _hotline],
        ids=["card-sign-in", "password-change", "phone-rebinding", "staff-sign-in", "hotline"],
    )
    def test_a_write_commits_while_a_password_is_being_checked(
        self,
        database: Database,
        client: TestClient,
        monkeypatch: pytest.MonkeyPatch,
        check: Callable[[Database, TestClient, Card], None],
    ) -> None:
        with database.transaction() as session:
            card = make_card(session)
        slow = SlowVerify()
        monkeypatch.setattr(passwords, "verify_password", slow)
        failures: list[BaseException] = []

        def run() -> None:
            try:
                check(database, client, card)
            except BaseException as exc:
                failures.append(exc)

        checker = threading.Thread(target=run)
        checker.start()
        try:
            assert slow.started.wait(timeout=60), "the password check never started"
            written = threading.Event()

            def write() -> None:
                with database.transaction() as session:
                    session.execute(update(Card).where(Card.id == card.id).values(language="en"))
                written.set()

            writer = threading.Thread(target=write)
            writer.start()
            # Liveness, not speed: the writer must finish while argon2 is still held.
            writer.join(timeout=20)
            assert written.is_set(), "a write waited for the password check"
        finally:
            slow.release.set()
            checker.join()
        assert failures == []


class TestForgetting:
    def test_counts_untouched_for_a_day_are_forgotten_but_not_a_running_lock(
        self, client: TestClient, database: Database, frozen_clock: FrozenClock
    ) -> None:
        with database.transaction() as session:
            card = make_card(session).card_number
        old = numbers.new_card_number(serial=777_000_002)
        login(client, old, WRONG)
        frozen_clock.advance(hours=25)
        for _ in range(5):
            login(client, card, WRONG)  # locked now
        with database.transaction() as session:
            assert attempts.purge_stale(session) == 1
            assert attempts.attempts(session, attempts.CARD, old) == 0
            assert attempts.locked_until(session, attempts.CARD, card) is not None
