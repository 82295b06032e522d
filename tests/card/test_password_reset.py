from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.card import numbers, password_reset, passwords
from roamcard.db import Database
from roamcard.errors import AppError
from roamcard.models import Card, CardSession, Notification, PasswordReset
from tests.factories import DEFAULT_PASSWORD, make_card, sms_text

NEW_PASSWORD = "27318845"
UNISSUED = numbers.new_card_number(serial=123_456_789)


@pytest.fixture
def card(database: Database) -> Card:
    with database.transaction() as session:
        made = make_card(session, phone="+8613812345678")
        session.expunge(made)
    return made


def _code(database: Database) -> str:
    with database.reading() as session:
        sms = session.scalars(
            select(Notification)
            .where(Notification.template == "password_reset_code")
            .order_by(Notification.id.desc())
        ).first()
        assert sms is not None
        found = re.search(r"(?<!\d)(\d{6})(?!\d)", sms_text(sms))
    assert found
    return found.group(1)


def _sign_in(client: TestClient, card: Card, password: str) -> int:
    return client.post(
        "/api/v1/sessions", json={"card_number": card.card_number, "password": password}
    ).status_code


class TestRequest:
    def test_a_code_goes_to_the_bound_phone_and_only_its_hash_is_kept(
        self, client: TestClient, card: Card, database: Database
    ) -> None:
        answer = client.post("/api/v1/password-resets", json={"card_number": card.card_number})
        assert answer.status_code == 202
        code = _code(database)
        with database.reading() as session:
            sms = session.scalars(
                select(Notification).where(Notification.template == "password_reset_code")
            ).one()
            reset = session.scalars(select(PasswordReset)).one()
        assert sms.phone == "+8613812345678"
        assert code not in sms.body
        assert code not in reset.code_hash

    def test_an_unknown_card_gets_exactly_the_same_answer_and_nothing_is_sent(
        self, client: TestClient, card: Card, database: Database
    ) -> None:
        known = client.post("/api/v1/password-resets", json={"card_number": card.card_number})
        unknown = client.post("/api/v1/password-resets", json={"card_number": UNISSUED})
        assert (unknown.status_code, unknown.json()) == (known.status_code, known.json())
        with database.reading() as session:
            assert len(session.scalars(select(Notification)).all()) == 1

    def test_requests_are_limited_per_card_number_whether_or_not_it_exists(
        self, client: TestClient, card: Card
    ) -> None:
        for number in (card.card_number, UNISSUED):
            answers = [
                client.post("/api/v1/password-resets", json={"card_number": number}).status_code
                for _ in range(6)
            ]
            assert answers == [202] * 5 + [429]


class TestConfirm:
    def test_the_code_and_a_new_password_set_it_end_every_session_and_tell_the_phone(
        self, client: TestClient, card: Card, database: Database
    ) -> None:
        assert _sign_in(client, card, DEFAULT_PASSWORD) == 201
        client.post("/api/v1/password-resets", json={"card_number": card.card_number})
        answer = client.post(
            "/api/v1/password-resets/confirm",
            json={"card_number": card.card_number, "code": _code(database), "new_password": NEW_PASSWORD},
        )
        assert answer.status_code == 204
        with database.reading() as session:
            fresh = session.get(Card, card.id)
            assert fresh is not None
            assert passwords.verify_password(fresh.password_hash, NEW_PASSWORD)
            live = session.scalars(select(CardSession).where(CardSession.revoked_at.is_(None))).all()
            done = session.scalars(
                select(Notification).where(Notification.template == "password_reset_done")
            ).one()
        assert live == []
        assert done.phone == "+8613812345678"
        assert _sign_in(client, card, NEW_PASSWORD) == 201

    def test_a_code_works_once(self, client: TestClient, card: Card, database: Database) -> None:
        client.post("/api/v1/password-resets", json={"card_number": card.card_number})
        body = {"card_number": card.card_number, "code": _code(database), "new_password": NEW_PASSWORD}
        assert client.post("/api/v1/password-resets/confirm", json=body).status_code == 204
        again = client.post("/api/v1/password-resets/confirm", json={**body, "new_password": "99887766"})
        assert again.status_code == 422

    def test_a_wrong_code_and_an_unknown_card_get_the_same_answer_and_change_nothing(
        self, client: TestClient, card: Card, database: Database
    ) -> None:
        client.post("/api/v1/password-resets", json={"card_number": card.card_number})
        code = _code(database)
        wrong = "000000" if code != "000000" else "111111"
        on_card = client.post(
            "/api/v1/password-resets/confirm",
            json={"card_number": card.card_number, "code": wrong, "new_password": NEW_PASSWORD},
        )
        on_nothing = client.post(
            "/api/v1/password-resets/confirm",
            json={"card_number": UNISSUED, "code": wrong, "new_password": NEW_PASSWORD},
        )
        assert on_card.status_code == on_nothing.status_code == 422
        assert on_card.json()["code"] == on_nothing.json()["code"] == "password_reset_code_wrong"
        assert on_card.json()["detail"] == on_nothing.json()["detail"]
        assert _sign_in(client, card, DEFAULT_PASSWORD) == 201

    def test_wrong_codes_are_limited_per_card_and_the_right_one_then_waits(
        self, client: TestClient, card: Card, database: Database
    ) -> None:
        client.post("/api/v1/password-resets", json={"card_number": card.card_number})
        code = _code(database)
        wrong = "000000" if code != "000000" else "111111"
        body = {"card_number": card.card_number, "code": wrong, "new_password": NEW_PASSWORD}
        answers = [client.post("/api/v1/password-resets/confirm", json=body).status_code for _ in range(6)]
        assert answers == [422] * 5 + [429]
        right = client.post("/api/v1/password-resets/confirm", json={**body, "code": code})
        assert right.status_code == 429


class CheckCounter:
    """Counts how many times a code is actually compared (threads: under a lock)."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()
        self._real = password_reset._code_matches

    def __call__(self, reset: PasswordReset, code: str) -> bool:
        with self._lock:
            self.calls += 1
        return self._real(reset, code)


def _confirm_as_a_request(database: Database, number: str, code: str, ip: str) -> int:
    """One confirm at the request's edge (SessionDep's rule: an AppError that keeps its changes commits)."""
    session = database.session()
    try:
        password_reset.confirm_reset(
            session, card_number=number, code=code, new_password=NEW_PASSWORD, client_ip=ip
        )
        session.commit()
        return 204
    except AppError as error:
        if error.keeps_changes:
            session.commit()
        else:
            session.rollback()
        return error.status_code
    finally:
        session.close()


class TestWrongCodesInParallel:
    @pytest.mark.parametrize("issued", [True, False], ids=["issued", "unknown"])
    def test_twenty_parallel_wrong_codes_get_at_most_five_checks_then_429(
        self,
        client: TestClient,
        card: Card,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
        issued: bool,
    ) -> None:
        client.post("/api/v1/password-resets", json={"card_number": card.card_number})
        code = _code(database)
        wrong = "000000" if code != "000000" else "111111"
        number = card.card_number if issued else UNISSUED
        checks = CheckCounter()
        monkeypatch.setattr(password_reset, "_code_matches", checks)
        start = threading.Barrier(20)

        def guess(index: int) -> int:
            start.wait()
            # Each from its own address, so only the per-number count can stop them.
            return _confirm_as_a_request(database, number, wrong, f"10.2.0.{index}")

        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(pool.map(guess, range(20)))
        assert sorted(set(answers)) == [422, 429]
        assert answers.count(422) <= 5
        assert answers.count(422) + answers.count(429) == 20
        assert checks.calls <= (5 if issued else 0)
        after = client.post(
            "/api/v1/password-resets/confirm",
            json={"card_number": number, "code": code, "new_password": NEW_PASSWORD},
        )
        assert after.status_code == 429
        assert int(after.headers["Retry-After"]) > 0
        assert checks.calls <= (5 if issued else 0)  # the right code was not even compared
        assert _sign_in(client, card, DEFAULT_PASSWORD) == 201

    def test_an_unknown_number_gets_the_same_status_sequence_as_an_issued_one(
        self, client: TestClient, card: Card, database: Database
    ) -> None:
        client.post("/api/v1/password-resets", json={"card_number": card.card_number})
        code = _code(database)
        wrong = "000000" if code != "000000" else "111111"
        sequences = []
        for number in (card.card_number, UNISSUED):
            body = {"card_number": number, "code": wrong, "new_password": NEW_PASSWORD}
            answers = [client.post("/api/v1/password-resets/confirm", json=body) for _ in range(7)]
            sequences.append([a.status_code for a in answers])
            assert all("Retry-After" in a.headers for a in answers if a.status_code == 429)
        assert sequences[0] == sequences[1] == [422] * 5 + [429] * 2

    def test_a_right_code_clears_the_count(self, client: TestClient, card: Card, database: Database) -> None:
        client.post("/api/v1/password-resets", json={"card_number": card.card_number})
        code = _code(database)
        wrong = "000000" if code != "000000" else "111111"
        body = {"card_number": card.card_number, "code": wrong, "new_password": NEW_PASSWORD}
        assert [client.post("/api/v1/password-resets/confirm", json=body).status_code for _ in range(4)] == [
            422
        ] * 4
        assert client.post("/api/v1/password-resets/confirm", json={**body, "code": code}).status_code == 204
        with database.reading() as session:
            assert password_reset.attempts.attempts(session, "password-reset", card.card_number) == 0
