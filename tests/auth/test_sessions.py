from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from roamcard.auth import attempts
from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.kit import clock
from tests.factories import DEFAULT_PASSWORD, make_card


@pytest.fixture
def card_number(database: Database) -> str:
    with database.transaction() as session:
        return make_card(session).card_number


def login(client: TestClient, card_number: str, password: str, **headers: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/sessions", json={"card_number": card_number, "password": password}, headers=headers
    )


class TestSignIn:
    def test_right_password_gets_a_token_that_reads_the_card(
        self, client: TestClient, card_number: str
    ) -> None:
        response = login(client, card_number, DEFAULT_PASSWORD)
        assert response.status_code == 201
        token = response.json()["token"]
        card = client.get("/api/v1/card", headers={"Authorization": f"Bearer {token}"}).json()
        assert card["card_number"] == card_number
        assert card["balance"] == {"amount": 0, "currency": "USD"}

    def test_wrong_password_and_unknown_card_get_the_same_answer(
        self, client: TestClient, card_number: str
    ) -> None:
        wrong_password = login(client, card_number, "11111111", **{"Accept-Language": "en"})
        unknown_card = login(client, "89103900000000000023", DEFAULT_PASSWORD, **{"Accept-Language": "en"})
        assert wrong_password.status_code == unknown_card.status_code == 401
        assert wrong_password.json()["detail"] == unknown_card.json()["detail"]
        assert wrong_password.json()["code"] == unknown_card.json()["code"] == "invalid_credentials"

    def test_five_failures_lock_the_card_for_fifteen_minutes(
        self, database: Database, client: TestClient, card_number: str, frozen_clock: clock.FrozenClock
    ) -> None:
        statuses = [login(client, card_number, "11111111").status_code for _ in range(5)]
        assert statuses == [401, 401, 401, 401, 429]
        locked = login(client, card_number, DEFAULT_PASSWORD)
        assert locked.status_code == 429
        assert 1 <= int(locked.headers["Retry-After"]) <= 15 * 60
        frozen_clock.advance(minutes=15, seconds=1)
        assert login(client, card_number, DEFAULT_PASSWORD).status_code == 201

    def test_success_resets_the_failure_count(
        self, client: TestClient, card_number: str, database: Database
    ) -> None:
        for _ in range(4):
            login(client, card_number, "11111111")
        assert login(client, card_number, DEFAULT_PASSWORD).status_code == 201
        with database.reading() as session:
            assert attempts.attempts(session, attempts.CARD, card_number) == 0
            assert attempts.locked_until(session, attempts.CARD, card_number) is None

    def test_failures_are_limited_per_client_ip(self, client: TestClient, database: Database) -> None:
        limit = get_settings().login_ip_limit
        with database.transaction() as session:
            numbers = [make_card(session).card_number for _ in range(limit // 4 + 2)]
        statuses = [login(client, numbers[i // 4], "11111111").status_code for i in range(limit)]
        assert set(statuses) == {401}
        blocked = login(client, numbers[-1], DEFAULT_PASSWORD)
        assert blocked.status_code == 429
        assert "Retry-After" in blocked.headers

    def test_expired_and_revoked_tokens_are_refused(
        self, client: TestClient, card_number: str, frozen_clock: clock.FrozenClock
    ) -> None:
        token = login(client, card_number, DEFAULT_PASSWORD).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert client.delete("/api/v1/sessions/current", headers=auth).status_code == 204
        assert client.get("/api/v1/card", headers=auth).json()["code"] == "session_expired"
        other = {"Authorization": f"Bearer {login(client, card_number, DEFAULT_PASSWORD).json()['token']}"}
        frozen_clock.advance(seconds=get_settings().session_ttl_seconds + 1)
        assert client.get("/api/v1/card", headers=other).status_code == 401
        assert frozen_clock.current - clock.now() == timedelta(0)

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"card_number": "89103900000000000016", "password": "12345678"}, "card_number"),
            ({"card_number": "8910390000", "password": "12345678"}, "card_number"),
            ({"card_number": "89103900000000000015", "password": ""}, "password"),
            ({"card_number": "89103900000000000015"}, "password"),
        ],
    )
    def test_bad_input_is_a_field_error(self, client: TestClient, body: dict[str, str], field: str) -> None:
        response = client.post("/api/v1/sessions", json=body, headers={"Accept-Language": "zh-CN"})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in response.json()["errors"]]

    def test_password_never_reaches_the_logs(
        self, client: TestClient, card_number: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        login(client, card_number, "98765432")
        login(client, card_number, DEFAULT_PASSWORD)
        captured = capsys.readouterr()
        assert "98765432" not in captured.out + captured.err
        assert DEFAULT_PASSWORD not in captured.out + captured.err
