"""Suspended cards (issue 9, item 1): refused after the right password, sessions ended, money and settings
refused, emergency help (CurrentCard) still reached; every status change through the card's state machine."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from roamcard.card import service as card_service
from roamcard.cli import app
from roamcard.db import Database
from roamcard.models import AuditEntry, Card, CardSession, StateTransition
from tests.factories import DEFAULT_PASSWORD, make_card, make_catalog
from tests.portal.helpers import form_error, post_form, sign_in

SUSPENDED = "This card is suspended. Call customer service."
EN = {"Accept-Language": "en"}
runner = CliRunner()


def _card(database: Database) -> Card:
    with database.transaction() as session:
        make_catalog(session)
        return make_card(session)


def _suspend(database: Database, card: Card) -> None:
    with database.transaction() as session:
        stored = session.get(Card, card.id)
        assert stored is not None
        assert card_service.suspend(session, stored, reason="reported lost")


def _login(client: TestClient, card: Card, password: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/sessions", json={"card_number": card.card_number, "password": password}, headers=EN
    )


def _token(client: TestClient, card: Card) -> dict[str, str]:
    response = _login(client, card, DEFAULT_PASSWORD)
    assert response.status_code == 201
    return {"Authorization": f"Bearer {response.json()['token']}", **EN}


def _mark_suspended_by_hand(database: Database, card: Card) -> None:
    """A suspension whose sessions somehow survived: the routes themselves must still refuse."""
    with database.transaction() as session:
        session.execute(update(Card).where(Card.id == card.id).values(status="suspended"))


class TestSignIn:
    def test_the_right_password_is_told_the_card_is_suspended(
        self, client: TestClient, database: Database
    ) -> None:
        card = _card(database)
        _suspend(database, card)
        response = _login(client, card, DEFAULT_PASSWORD)
        assert (response.status_code, response.json()["code"]) == (403, "card_suspended")
        assert response.json()["detail"] == SUSPENDED

    def test_a_wrong_password_learns_nothing(self, client: TestClient, database: Database) -> None:
        card = _card(database)
        _suspend(database, card)
        response = _login(client, card, "11111111")
        assert (response.status_code, response.json()["code"]) == (401, "invalid_credentials")

    def test_the_portal_says_so_after_the_right_password(
        self, client: TestClient, database: Database
    ) -> None:
        card = _card(database)
        _suspend(database, card)
        response = post_form(
            client, "/", "/login", {"card_number": card.card_number, "password": DEFAULT_PASSWORD}, headers=EN
        )
        assert response.status_code == 403
        assert form_error(response.text) == SUSPENDED
        assert "rc_session" not in response.headers.get("set-cookie", "")


class TestSuspending:
    def test_ends_every_session_of_the_card_and_is_recorded(
        self, client: TestClient, database: Database
    ) -> None:
        card = _card(database)
        first, second = _token(client, card), _token(client, card)
        _suspend(database, card)
        for headers in (first, second):
            assert client.get("/api/v1/card", headers=headers).json()["code"] == "session_expired"
        with database.reading() as session:
            assert all(s.revoked_at is not None for s in session.scalars(select(CardSession)))
            history = session.scalars(
                select(StateTransition)
                .where(StateTransition.entity_type == "card", StateTransition.entity_id == str(card.id))
                .order_by(StateTransition.id)
            ).all()
        assert [(t.from_status, t.to_status, t.reason) for t in history] == [
            (None, "active", None),
            ("active", "suspended", "reported lost"),
        ]

    def test_resuming_lets_the_card_sign_in_again(self, client: TestClient, database: Database) -> None:
        card = _card(database)
        _suspend(database, card)
        with database.transaction() as session:
            stored = session.get(Card, card.id)
            assert stored is not None
            assert card_service.resume(session, stored, reason="found")
            assert not card_service.resume(session, stored, reason="twice")
        assert _login(client, card, DEFAULT_PASSWORD).status_code == 201


class TestRefusedRoutes:
    def test_top_ups_refunds_recharge_cards_and_rebinding_are_refused(
        self, client: TestClient, database: Database
    ) -> None:
        card = _card(database)
        headers = _token(client, card)
        _mark_suspended_by_hand(database, card)
        attempts = {
            "topup": client.post(
                "/api/v1/topups",
                json={"product_id": "balance-10", "currency": "USD", "payment_method": "sandbox"},
                headers={**headers, "Idempotency-Key": "k1"},
            ),
            "refund": client.post(
                "/api/v1/topups/top_x/refunds",
                json={"reason": "x"},
                headers={**headers, "Idempotency-Key": "k2"},
            ),
            "voucher": client.post("/api/v1/vouchers/redeem", json={"pin": "1" * 16}, headers=headers),
            "phone": client.post(
                "/api/v1/card/phone",
                json={"phone": "+14155550123", "current_password": DEFAULT_PASSWORD},
                headers=headers,
            ),
            "phone-confirm": client.post(
                "/api/v1/card/phone/confirm", json={"code": "123456"}, headers=headers
            ),
        }
        for name, response in attempts.items():
            assert (name, response.status_code, response.json()["code"]) == (name, 403, "card_suspended")
            assert response.json()["detail"] == SUSPENDED

    def test_reading_the_card_is_not_refused(self, client: TestClient, database: Database) -> None:
        """`CurrentCard` never refuses a suspended card: emergency help is built on it."""
        card = _card(database)
        headers = _token(client, card)
        _mark_suspended_by_hand(database, card)
        response = client.get("/api/v1/card", headers=headers)
        assert (response.status_code, response.json()["status"]) == (200, "suspended")

    def test_portal_settings_and_recharges_are_refused(self, client: TestClient, database: Database) -> None:
        card = _card(database)
        sign_in(client, card.card_number)
        _mark_suspended_by_hand(database, card)
        password = post_form(
            client,
            "/settings",
            "/settings/password",
            {
                "current_password": DEFAULT_PASSWORD,
                "new_password": "55556666",
                "confirm_password": "55556666",
            },
            headers=EN,
        )
        phone = post_form(
            client,
            "/settings",
            "/settings/phone",
            {"phone": "+14155550123", "password": DEFAULT_PASSWORD},
            headers=EN,
        )
        for response in (password, phone):
            assert response.status_code == 403
            assert form_error(response.text) == SUSPENDED
        with database.reading() as session:
            stored = session.get(Card, card.id)
            assert stored is not None
            assert stored.password_hash == card.password_hash
            assert stored.phone == card.phone


class TestCommandLine:
    def test_suspend_and_resume_are_audited_like_the_console(
        self, client: TestClient, database: Database
    ) -> None:
        card = _card(database)
        headers = _token(client, card)
        spaced = " ".join(card.card_number[i : i + 4] for i in range(0, len(card.card_number), 4))
        result = runner.invoke(
            app, ["cards", "suspend", spaced, "--reason", "reported lost by phone", "--by", "carol"]
        )
        assert result.exit_code == 0, result.output
        assert client.get("/api/v1/card", headers=headers).status_code == 401
        assert _login(client, card, DEFAULT_PASSWORD).json()["code"] == "card_suspended"

        again = runner.invoke(
            app, ["cards", "suspend", card.card_number, "--reason", "twice", "--by", "carol"]
        )
        assert again.exit_code == 2
        assert "already suspended" in again.output
        assert runner.invoke(app, ["cards", "resume", card.card_number, "--reason", "found"]).exit_code == 0
        assert _login(client, card, DEFAULT_PASSWORD).status_code == 201

        with database.reading() as session:
            entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [
            (e.action, e.staff_email, e.staff_role, e.reason, e.before, e.after) for e in entries[:2]
        ] == [
            (
                "card.suspended",
                "cli:carol",
                "cli",
                "reported lost by phone",
                {"status": "active"},
                {"status": "suspended"},
            ),
            (
                "card.suspended.failed",
                "cli:carol",
                "cli",
                "twice",
                {"status": "suspended"},
                {"error": "card_status_unchanged"},
            ),
        ]
        assert (entries[2].action, entries[2].target_id, entries[2].card_id) == (
            "card.unsuspended",
            card.card_number,
            card.id,
        )

    def test_a_reason_is_required_and_an_unknown_card_changes_nothing(self, database: Database) -> None:
        card = _card(database)
        assert runner.invoke(app, ["cards", "suspend", card.card_number]).exit_code == 2
        assert runner.invoke(app, ["cards", "suspend", card.card_number, "--reason", " "]).exit_code == 2
        unknown = runner.invoke(app, ["cards", "suspend", "89103900000000000015", "--reason", "lost"])
        assert unknown.exit_code == 2
        with database.reading() as session:
            stored = session.get(Card, card.id)
            assert stored is not None
            assert stored.status == "active"
