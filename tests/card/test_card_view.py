"""GET /api/v1/card on the lean path: one read statement (the token check, the card, the wallet's balance,
the live allowances) that answers exactly as the ORM `overview` does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from roamcard.auth import service as auth_service
from roamcard.card import service as card_service
from roamcard.db import Database
from roamcard.kit import clock
from roamcard.kit.sql import Tx
from roamcard.ledger import service as ledger
from roamcard.ledger.assets import Asset
from roamcard.models import Allowance, Card
from tests.factories import DEFAULT_PASSWORD, make_card
from tests.statements import record_statements


@contextmanager
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    real = Tx._execute
    yield record_statements(monkeypatch)
    monkeypatch.setattr(Tx, "_execute", real)


def _grant(session: Any, card: Card, key: str, asset: Asset, days: int) -> Allowance:
    return ledger.grant_allowance(
        session,
        key=key,
        card_id=card.id,
        asset=asset,
        amount=1000 + days,
        validity_days=days,
        order_id=None,
        product_id=f"pack-{key}",
    )


@pytest.fixture
def card(database: Database) -> Card:
    """A card with money in its wallet, two live packs (granted latest-expiring first), one pack past its
    expiry and one already marked expired."""
    with database.transaction() as session:
        card = make_card(session)
        ledger.transfer(
            session,
            key=f"{card.id}:test-credit",
            debit=ledger.operator_account(session, "sales", card.currency),
            credit=ledger.wallet_account(session, card.id, card.currency),
            amount=1234,
            reason="topup",
        )
        _grant(session, card, "voice", Asset.VOICE_SECONDS, 30)
        _grant(session, card, "data", Asset.DATA_BYTES, 7)
        lapsed = _grant(session, card, "lapsed", Asset.SMS, 1)
        marked = _grant(session, card, "marked", Asset.SMS, 40)
        session.execute(
            update(Allowance)
            .where(Allowance.id == lapsed.id)
            .values(expires_at=clock.now() - timedelta(minutes=1))
        )
        session.execute(update(Allowance).where(Allowance.id == marked.id).values(expired_at=clock.now()))
        return card


def _token(client: TestClient, card: Card) -> str:
    response = client.post(
        "/api/v1/sessions", json={"card_number": card.card_number, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 201
    token: str = response.json()["token"]
    return token


class TestCardView:
    def test_one_statement_answers_as_the_orm_overview(
        self, database: Database, client: TestClient, card: Card, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        token = _token(client, card)
        with counted(monkeypatch) as statements, database.autocommit() as tx:
            lean = card_service.card_view(tx, token)
        assert len(statements) == 1
        with database.reading() as session:
            orm = card_service.overview(session, auth_service.card_for_token(session, token))
        assert (lean.balance, lean.allowances) == (orm.balance, orm.allowances)
        assert [a.kind for a in lean.allowances] == ["data", "voice"]  # earliest expiry first
        assert lean.balance.amount == 1234
        assert (lean.card.id, lean.card.card_number, lean.card.status) == (
            card.id,
            card.card_number,
            "active",
        )

    def test_the_api_answers_with_the_view(self, client: TestClient, card: Card) -> None:
        body = client.get("/api/v1/card", headers={"Authorization": f"Bearer {_token(client, card)}"}).json()
        assert body["balance"] == {"amount": 1234, "currency": card.currency}
        assert [(a["kind"], a["remaining"], a["product_id"]) for a in body["allowances"]] == [
            ("data", 1007, "pack-data"),
            ("voice", 1030, "pack-voice"),
        ]
        assert (body["card_number"], body["status"], body["phone"]) == (
            card.card_number,
            "active",
            card.phone,
        )

    def test_a_card_without_a_wallet_or_packs_has_nothing(
        self, database: Database, client: TestClient
    ) -> None:
        with database.transaction() as session:
            card = make_card(session)
        token = _token(client, card)
        with database.autocommit() as tx:
            view = card_service.card_view(tx, token)
        assert (view.balance.amount, view.allowances) == (0, [])

    def test_a_suspended_card_still_reads_it_but_a_revoked_token_does_not(
        self, database: Database, client: TestClient, card: Card
    ) -> None:
        token = _token(client, card)
        auth = {"Authorization": f"Bearer {token}"}
        with database.transaction() as session:
            session.execute(update(Card).where(Card.id == card.id).values(status="suspended"))
        assert client.get("/api/v1/card", headers=auth).json()["status"] == "suspended"
        with database.transaction() as session:
            auth_service.logout(session, token)
        assert client.get("/api/v1/card", headers=auth).json()["code"] == "session_expired"
        assert client.get("/api/v1/card").status_code == 401


class TestTokenCheck:
    def test_one_indexed_read_and_no_write(
        self, database: Database, client: TestClient, card: Card, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        token = _token(client, card)
        with counted(monkeypatch) as statements, database.autocommit() as tx:
            signed = auth_service.signed_in_card(tx, token)
        assert [s.split()[0] for s in statements] == ["SELECT"]
        assert (signed.id, signed.currency) == (card.id, card.currency)
