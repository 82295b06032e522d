"""The `payment.process_event` job on the lean path: the inbox event is claimed in the transaction that
handles it, the payment is read once, and paying and fulfilling load nothing through the ORM."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import event, func, select

from roamcard import wiring
from roamcard.db import Database
from roamcard.ledger import service as ledger
from roamcard.ledger.assets import AccountKind, Asset
from roamcard.models import (
    Allowance,
    Card,
    InboxEvent,
    LedgerAccount,
    Payment,
    Refund,
    StateTransition,
    TopupOrder,
)
from roamcard.payment import outcomes
from roamcard.payment import service as payment_service
from roamcard.topup.service.create import create_topup
from roamcard.topup.states import TopupStatus, topup_machine
from tests.factories import make_card, make_catalog, sandbox_event, sandbox_headers
from tests.statements import record_statements


def _notified(database: Database, product_id: str = "balance-10") -> tuple[int, str, str]:
    """A sandbox top-up whose success notification is in the inbox: (card id, order id, event id)."""
    with database.transaction() as session:
        make_catalog(session)
        card = make_card(session)
        order, payment = create_topup(
            session, card, product_id=product_id, currency="USD", payment_method="sandbox"
        )
        card_id, order_id, payment_id, amount = card.id, order.id, payment.id, payment.amount
    body = sandbox_event(payment_id, amount, "USD")
    with database.transaction() as session:
        assert payment_service.accept_sandbox_notification(
            session, body, sandbox_headers(body)["Roamcard-Signature"]
        )
    return card_id, order_id, f"evt_{payment_id}_payment.succeeded"


def _history(database: Database, entity_id: str) -> list[tuple[str | None, str]]:
    with database.reading() as session:
        rows = session.execute(
            select(StateTransition.from_status, StateTransition.to_status)
            .where(StateTransition.entity_id == entity_id)
            .order_by(StateTransition.id)
        ).all()
        return [(row[0], row[1]) for row in rows]


def _handled(database: Database, event_id: str) -> bool:
    with database.reading() as session:
        event = session.scalars(select(InboxEvent).where(InboxEvent.event_id == event_id)).one()
        return event.handled_at is not None


@pytest.fixture
def failing_fulfilment() -> Iterator[None]:
    def fail(db: Any, order_id: str, facts: Any = None) -> None:
        raise RuntimeError("fulfilment failed")

    previous = outcomes.install(replace(wiring.PAYMENT_OUTCOMES, order_paid=fail))
    try:
        yield
    finally:
        outcomes.install(previous)


class TestTheInboxClaim:
    def test_a_handled_event_is_not_handled_again(self, database: Database) -> None:
        _, order_id, event_id = _notified(database)
        for _ in range(2):
            with database.transaction() as session:
                payment_service.process_event(session, "sandbox", event_id)
        assert _handled(database, event_id)
        assert _history(database, order_id) == [
            (None, "pending_payment"),
            ("pending_payment", "paid"),
            ("paid", "fulfilled"),
        ]

    def test_a_handling_that_fails_leaves_the_event_for_the_next_run(
        self, database: Database, failing_fulfilment: None
    ) -> None:
        _, order_id, event_id = _notified(database)
        with pytest.raises(RuntimeError), database.transaction() as session:
            payment_service.process_event(session, "sandbox", event_id)
        assert not _handled(database, event_id)  # the claim rolled back with the rest
        assert _history(database, order_id) == [(None, "pending_payment")]
        outcomes.install(wiring.PAYMENT_OUTCOMES)
        with database.transaction() as session:
            payment_service.process_event(session, "sandbox", event_id)
        assert _handled(database, event_id)
        assert _history(database, order_id)[-1] == ("paid", "fulfilled")


class TestPayingAndFulfilling:
    def test_loads_no_payment_order_card_account_or_event(self, database: Database) -> None:
        card_id, order_id, event_id = _notified(database)
        with database.transaction() as session:
            payment_service.process_event(session, "sandbox", event_id)
            loaded = {type(instance) for instance in session.identity_map.values()}
        assert not loaded & {InboxEvent, Payment, TopupOrder, Card, LedgerAccount, Allowance}
        with database.reading() as session:
            order = session.get(TopupOrder, order_id)
            assert order is not None
            assert order.status == "fulfilled"
            assert order.paid_at is not None
            assert order.fulfilled_at is not None
            assert ledger.wallet_account(session, card_id, "USD").balance == 1000
            assert ledger.verify(session).ok

    def test_a_second_success_on_a_succeeded_payment_changes_nothing(self, database: Database) -> None:
        _, order_id, event_id = _notified(database)
        with database.transaction() as session:
            payment_service.process_event(session, "sandbox", event_id)
            payment_id = session.scalars(select(Payment.id).where(Payment.order_id == order_id)).one()
        with database.transaction() as session:
            assert not payment_service.mark_succeeded(session, payment_id, reason="again")
        assert _history(database, payment_id) == [(None, "pending"), ("pending", "succeeded")]

    def test_money_on_an_unknown_payment_moves_it_from_unknown(self, database: Database) -> None:
        _, order_id, event_id = _notified(database)
        with database.transaction() as session:
            payment = session.scalars(select(Payment).where(Payment.order_id == order_id)).one()
            payment_service.mark_unknown(session, payment.id, payment.order_id, reason="no answer")
            payment_id = payment.id
        with database.transaction() as session:
            payment_service.process_event(session, "sandbox", event_id)
        assert _history(database, payment_id)[-1] == ("unknown", "succeeded")
        assert _history(database, order_id)[-2:] == [("unknown", "paid"), ("paid", "fulfilled")]

    def test_a_bundle_grants_each_pack_once(self, database: Database) -> None:
        card_id, order_id, event_id = _notified(database, "bundle-traveller-30d")
        with database.transaction() as session:
            payment_service.process_event(session, "sandbox", event_id)
        with database.reading() as session:
            packs = session.execute(
                select(Allowance.asset, Allowance.total, Allowance.order_id).where(
                    Allowance.card_id == card_id
                )
            ).all()
            assert sorted(tuple(pack) for pack in packs) == [
                ("DATA_BYTES", 10737418240, order_id),
                ("SMS", 100, order_id),
                ("VOICE_SECONDS", 12000, order_id),
            ]
            assert ledger.verify(session).ok


class TestOnTheJobsLeanTransaction:
    """As the worker runs it: on `Database.job_transaction()`'s Tx, no ORM session unless money is late."""

    def test_the_order_and_card_are_read_with_the_payment_and_no_session_is_opened(
        self, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        card_id, order_id, event_id = _notified(database)
        orm_statements = _count_orm_statements(database)
        statements = record_statements(monkeypatch)
        with database.job_transaction() as tx:
            payment_service.process_event(tx, "sandbox", event_id)
            assert "roamcard_session" not in tx.info
        reads_of_the_order = [sql for sql in statements if sql.startswith("SELECT") and "topup_orders" in sql]
        assert len(reads_of_the_order) == 1  # the payment's read; fulfilment does not read the order again
        assert "FROM payments p JOIN topup_orders" in reads_of_the_order[0]
        assert orm_statements == []
        assert _history(database, order_id)[-1] == ("paid", "fulfilled")
        with database.reading() as session:
            assert ledger.wallet_account(session, card_id, "USD").balance == 1000

    def test_a_late_payment_refunds_through_a_session_in_the_same_transaction(
        self, database: Database
    ) -> None:
        _, order_id, event_id = _notified(database)
        with database.tx() as tx:
            assert topup_machine.transition(tx, order_id, TopupStatus.PENDING_PAYMENT, TopupStatus.EXPIRED)

        def handle_then_fail() -> None:
            with database.job_transaction() as tx:
                payment_service.process_event(tx, "sandbox", event_id)
                assert "roamcard_session" in tx.info  # opened for the refund
                assert tx.value("SELECT count(*) FROM refunds WHERE order_id = :id", id=order_id) == 1
                raise RuntimeError("the job fails after the refund was written")

        with pytest.raises(RuntimeError):
            handle_then_fail()
        # The refund went with the rest of the transaction: it was in it.
        assert _refunds(database, order_id) == []
        assert not _handled(database, event_id)
        with database.job_transaction() as tx:
            payment_service.process_event(tx, "sandbox", event_id)
        assert _refunds(database, order_id) == [("late_payment", "approved", 1000)]
        assert _history(database, order_id)[-1] == ("pending_payment", "expired")
        with database.reading() as session:
            assert ledger.verify(session).ok


def _refunds(database: Database, order_id: str) -> list[tuple[str, str, int]]:
    with database.reading() as session:
        rows = session.execute(
            select(Refund.kind, Refund.status, Refund.amount).where(Refund.order_id == order_id)
        ).all()
        return [(row[0], row[1], row[2]) for row in rows]


def _count_orm_statements(database: Database) -> list[str]:
    """Statements SQLAlchemy sends (the ORM and Core); the lean Tx's go straight to the driver."""
    seen: list[str] = []
    event.listen(database.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


class TestGrantPack:
    def test_on_a_lean_transaction_and_again_through_the_orm(self, database: Database) -> None:
        with database.transaction() as session:
            card_id = make_card(session).id
        grant: dict[str, Any] = dict(
            key="order:fulfil:0",
            card_id=card_id,
            asset=Asset.DATA_BYTES,
            amount=100,
            validity_days=7,
            order_id="top_x",
            product_id="data-1gb-7d",
        )
        with database.tx() as tx:
            first = ledger.grant_pack(tx, **grant)
            assert ledger.grant_pack(tx, **grant) == first
        with database.transaction() as session:
            again = ledger.grant_allowance(session, **grant)
            assert again.id == first
            assert (again.total, again.order_id, again.product_id) == (100, "top_x", "data-1gb-7d")
            assert (again.expires_at - again.created_at).days == 7
            assert session.scalar(select(func.count()).select_from(Allowance)) == 1
            assert ledger.verify(session).ok

    def test_an_account_made_without_its_pack_gets_the_pack(self, database: Database) -> None:
        with database.transaction() as session:
            card_id = make_card(session).id
        with database.tx() as tx:
            code = f"card:{card_id}:allowance:k"
            account = ledger.account(tx, code, "SMS", AccountKind.ALLOWANCE, card_id=card_id, lower_bound=0)
            pack = ledger.grant_pack(
                tx,
                key="k",
                card_id=card_id,
                asset=Asset.SMS,
                amount=100,
                validity_days=30,
                order_id=None,
                product_id=None,
            )
            assert ledger.balance(tx, account) == 100
        with database.reading() as session:
            allowance = session.get(Allowance, pack)
            assert allowance is not None
            assert allowance.account_id == account.id
            assert ledger.verify(session).ok
