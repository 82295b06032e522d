from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.card import numbers, passwords
from roamcard.db import Database
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
