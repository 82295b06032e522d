from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from roamcard.db import Database
from roamcard.jobs.sweepers import build_worker
from roamcard.ledger import service as ledger
from roamcard.models import InboxEvent, Job, LedgerTransfer, Notification, Payment, Refund, TopupOrder
from roamcard.payment import service as payment_service
from roamcard.topup.service.create import create_topup
from tests.factories import make_card, make_catalog, sandbox_event, sandbox_headers
from tests.statements import record_statements


def open_order(
    database: Database, product_id: str = "balance-10", currency: str = "USD"
) -> tuple[int, Payment]:
    with database.transaction() as session:
        make_catalog(session)
        card = make_card(session)
        _, payment = create_topup(
            session, card, product_id=product_id, currency=currency, payment_method="sandbox"
        )
        return card.id, payment


def wallet_balance(database: Database, card_id: int) -> int:
    with database.reading() as session:
        return ledger.wallet_account(session, card_id, "USD").balance


def count(database: Database, model: Any, *where: Any) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def run_in_parallel(times: int, action: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(times)

    def start(index: int) -> Any:
        barrier.wait()
        try:
            return action(index)
        except Exception as exc:  # collected, asserted by the caller
            return exc

    with ThreadPoolExecutor(max_workers=times) as pool:
        return list(pool.map(start, range(times)))


class TestVerification:
    def test_accepted_notification_pays_and_fulfils_once(
        self, database: Database, client: TestClient
    ) -> None:
        card_id, payment = open_order(database)
        body = sandbox_event(payment.id, 1000, "USD")
        first = client.post("/webhooks/sandbox", content=body, headers=sandbox_headers(body))
        again = client.post("/webhooks/sandbox", content=body, headers=sandbox_headers(body))
        assert (first.status_code, first.json()["duplicate"]) == (200, False)
        assert (again.status_code, again.json()["duplicate"]) == (200, True)
        build_worker(database).drain()
        assert wallet_balance(database, card_id) == 1000
        assert count(database, Notification) == 1

    @pytest.mark.parametrize(
        ("case", "expected_status"),
        [
            ("unsigned", 400),
            ("bad_signature", 400),
            ("wrong_secret", 400),
            ("stale", 400),
            ("future", 400),
            ("tampered_body", 400),
            ("amount_mismatch", 200),
            ("currency_mismatch", 200),
            ("unknown_payment", 404),
            ("malformed_json", 400),
        ],
    )
    def test_rejected_notifications_change_nothing(
        self, database: Database, client: TestClient, case: str, expected_status: int
    ) -> None:
        card_id, payment = open_order(database)
        body = sandbox_event(payment.id, 1000, "USD")
        headers = sandbox_headers(body)
        if case == "unsigned":
            headers.pop("Roamcard-Signature")
        elif case == "bad_signature":
            headers["Roamcard-Signature"] = headers["Roamcard-Signature"][:-4] + "beef"
        elif case == "wrong_secret":
            headers = sandbox_headers(body, secret="whsec_someone_else")
        elif case == "stale":
            headers = sandbox_headers(body, timestamp=int(time.time()) - 360)
        elif case == "future":
            headers = sandbox_headers(body, timestamp=int(time.time()) + 360)
        elif case == "tampered_body":
            body = sandbox_event(payment.id, 1, "USD")
        elif case == "amount_mismatch":
            body = sandbox_event(payment.id, 999, "USD")
            headers = sandbox_headers(body)
        elif case == "currency_mismatch":
            body = sandbox_event(payment.id, 1000, "CNY")
            headers = sandbox_headers(body)
        elif case == "unknown_payment":
            body = sandbox_event("pay_doesnotexist", 1000, "USD")
            headers = sandbox_headers(body)
        elif case == "malformed_json":
            body = b'{"id": "evt_1", "type": '
            headers = sandbox_headers(body)

        response = client.post("/webhooks/sandbox", content=body, headers=headers)

        assert response.status_code == expected_status
        mismatch = case in ("amount_mismatch", "currency_mismatch")
        # A mismatch is acknowledged (so the gateway stops retrying) and held for staff; nothing changes.
        assert (response.headers["content-type"] == "application/problem+json") != mismatch
        build_worker(database).drain()
        assert count(database, InboxEvent) == (1 if mismatch else 0)
        assert count(database, InboxEvent, InboxEvent.held_reason == "amount_mismatch") == (
            1 if mismatch else 0
        )
        assert wallet_balance(database, card_id) == 0
        with database.reading() as session:
            assert session.get(Payment, payment.id).status == "pending"  # type: ignore[union-attr]

    def test_success_after_failure_does_not_move_order_backwards_and_is_refunded(
        self, database: Database, client: TestClient
    ) -> None:
        card_id, payment = open_order(database)
        for kind in ("payment.failed", "payment.succeeded"):
            body = sandbox_event(payment.id, 1000, "USD", kind=kind)
            assert (
                client.post("/webhooks/sandbox", content=body, headers=sandbox_headers(body)).status_code
                == 200
            )
            build_worker(database).drain()
        with database.reading() as session:
            assert session.get(TopupOrder, payment.order_id).status == "failed"  # type: ignore[union-attr]
            assert session.get(Payment, payment.id).status == "succeeded"  # type: ignore[union-attr]
            refunds = session.scalars(select(Refund).where(Refund.payment_id == payment.id)).all()
            assert [(r.kind, r.amount) for r in refunds] == [("late_payment", 1000)]
            assert ledger.verify(session).ok
        assert wallet_balance(database, card_id) == 0

    def test_success_then_failure_keeps_the_credit(self, database: Database, client: TestClient) -> None:
        card_id, payment = open_order(database)
        for kind in ("payment.succeeded", "payment.failed"):
            body = sandbox_event(payment.id, 1000, "USD", kind=kind)
            client.post("/webhooks/sandbox", content=body, headers=sandbox_headers(body))
            build_worker(database).drain()
        with database.reading() as session:
            assert session.get(TopupOrder, payment.order_id).status == "fulfilled"  # type: ignore[union-attr]
        assert wallet_balance(database, card_id) == 1000


class TestExactlyOnceUnderConcurrency:
    def test_fifty_parallel_duplicate_notifications_credit_once(self, database: Database) -> None:
        card_id, payment = open_order(database)
        body = sandbox_event(payment.id, 1000, "USD")

        def deliver(_: int) -> bool:
            with database.transaction() as session:
                return payment_service.accept_sandbox_notification(
                    session, body, sandbox_headers(body)["Roamcard-Signature"]
                )

        outcomes = run_in_parallel(50, deliver)
        assert [o for o in outcomes if isinstance(o, Exception)] == []
        assert outcomes.count(True) == 1
        workers = [build_worker(database, worker_id=f"w{i}") for i in range(4)]
        run_in_parallel(4, lambda i: workers[i].drain())
        assert wallet_balance(database, card_id) == 1000
        assert (
            count(
                database,
                LedgerTransfer,
                LedgerTransfer.reference == payment.order_id,
                LedgerTransfer.reason == "topup",
            )
            == 1
        )
        assert count(database, Notification) == 1

    def test_fifty_distinct_events_for_one_payment_credit_once(self, database: Database) -> None:
        card_id, payment = open_order(database)

        def deliver(index: int) -> bool:
            body = sandbox_event(payment.id, 1000, "USD", event_id=f"evt_retry_{index}")
            with database.transaction() as session:
                return payment_service.accept_sandbox_notification(
                    session, body, sandbox_headers(body)["Roamcard-Signature"]
                )

        outcomes = run_in_parallel(50, deliver)
        assert outcomes.count(True) == 50
        workers = [build_worker(database, worker_id=f"w{i}") for i in range(4)]
        run_in_parallel(4, lambda i: workers[i].drain())
        assert wallet_balance(database, card_id) == 1000
        assert count(database, InboxEvent, InboxEvent.handled_at.is_not(None)) == 50
        with database.reading() as session:
            assert ledger.verify(session).ok


def event_body(*, data: Any = None, **fields: Any) -> bytes:
    """A sandbox event with some fields replaced (None: the default)."""
    event: dict[str, Any] = {"id": "evt_1", "type": "payment.succeeded", **fields}
    event["data"] = (
        data
        if data is not None and not isinstance(data, dict)
        else {"payment_id": "pay_1", "amount": 1, "currency": "USD", **(data or {})}
    )
    return json.dumps(event).encode()


class TestLeanIntake:
    @pytest.mark.parametrize(
        "body",
        [
            b"[]",
            b'"text"',
            b'{"id": "evt_1", "type": "payment.succeeded"}',
            event_body(data=[]),
            event_body(id=""),
            event_body(id="e" * 129),
            event_body(id=7),
            event_body(type=None),
            event_body(data={"payment_id": "p" * 33}),
            event_body(data={"payment_id": 12}),
            event_body(data={"amount": True}),
            event_body(data={"amount": 1.0}),
            event_body(data={"amount": "1"}),
            event_body(data={"currency": "usd"}),
            event_body(data={"currency": "USD\n"}),
            event_body(data={"currency": "USDX"}),
        ],
    )
    def test_malformed_bodies_are_refused(self, body: bytes) -> None:
        with pytest.raises(ValueError, match="malformed body"):
            payment_service.parse_sandbox_event(body)

    def test_unknown_fields_are_ignored(self) -> None:
        body = event_body(extra=1, data={"amount": 5, "currency": "EUR", "x": None})
        assert payment_service.parse_sandbox_event(body) == ("evt_1", "payment.succeeded", "pay_1", 5, "EUR")

    def test_the_intake_is_one_statement_on_postgresql(
        self, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        _, payment = open_order(database)
        statements = record_statements(monkeypatch)
        body = sandbox_event(payment.id, 1000, "USD")
        signed = sandbox_headers(body)["Roamcard-Signature"]
        assert payment_service.receive_sandbox_notification(database, body, signed)
        assert len(statements) == (3 if database.is_sqlite else 1)
        statements.clear()
        assert not payment_service.receive_sandbox_notification(database, body, signed)  # a repeat
        assert len(statements) == (2 if database.is_sqlite else 1)
        assert count(database, Job, Job.kind == "payment.process_event") == 1
        assert count(database, InboxEvent) == 1
