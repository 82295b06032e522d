"""Shared steps of the gateway tests: a signed-in card, a top-up through the API, the books."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from roamcard.db import Database
from roamcard.jobs.sweepers import build_worker
from roamcard.ledger import service as ledger
from roamcard.models import InboxEvent, Payment, Refund, TopupOrder
from tests.factories import DEFAULT_PASSWORD, make_card, make_catalog

DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36"
MOBILE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


def signed_in(database: Database, client: TestClient) -> tuple[int, dict[str, str]]:
    with database.transaction() as session:
        make_catalog(session)
        card = make_card(session)
        card_id, number = card.id, card.card_number
    token = client.post("/api/v1/sessions", json={"card_number": number, "password": DEFAULT_PASSWORD})
    assert token.status_code == 201, token.text
    return card_id, {"Authorization": f"Bearer {token.json()['token']}"}


def order_topup(
    client: TestClient,
    auth: dict[str, str],
    method: str,
    *,
    product_id: str = "balance-10",
    currency: str = "CNY",
    key: str = "k1",
    user_agent: str = DESKTOP,
) -> Any:
    return client.post(
        "/api/v1/topups",
        json={"product_id": product_id, "currency": currency, "payment_method": method},
        headers={**auth, "Idempotency-Key": key, "User-Agent": user_agent},
    )


def payment_of(database: Database, order_id: str) -> Payment:
    with database.reading() as session:
        payment = session.scalars(select(Payment).where(Payment.order_id == order_id)).one()
        session.expunge(payment)
        return payment


def statuses(database: Database, order_id: str) -> tuple[str, str]:
    with database.reading() as session:
        order = session.get(TopupOrder, order_id)
        assert order is not None
        payment = session.scalars(select(Payment).where(Payment.order_id == order_id)).one()
        return order.status, payment.status


def wallet(database: Database, card_id: int) -> int:
    with database.reading() as session:
        return ledger.wallet_account(session, card_id, "USD").balance


def count(database: Database, model: Any, *where: Any) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def inbox(database: Database) -> int:
    return count(database, InboxEvent)


def held(database: Database) -> int:
    """Verified notifications held for staff (an amount mismatch), never handled automatically."""
    return count(database, InboxEvent, InboxEvent.held_reason.is_not(None), InboxEvent.handled_at.is_(None))


def refunds_of(database: Database, order_id: str) -> list[Refund]:
    with database.reading() as session:
        found = list(
            session.scalars(select(Refund).where(Refund.order_id == order_id).order_by(Refund.created_at))
        )
        for refund in found:
            session.expunge(refund)
        return found


def books_balance(database: Database) -> bool:
    with database.reading() as session:
        return ledger.verify(session).ok


def drain(database: Database, *, sweep: bool = False) -> None:
    worker = build_worker(database)
    if sweep:
        worker.sweep_if_due()
    worker.drain()
