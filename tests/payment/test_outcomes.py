"""Payment hands a settled outcome to top-up and refund through `payment.outcomes`, wired by
`roamcard.wiring`; with nothing wired it raises and changes nothing (money is never silently dropped)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from roamcard import wiring
from roamcard.db import Database
from roamcard.models import Payment, TopupOrder
from roamcard.payment import outcomes
from roamcard.payment import service as payment_service
from roamcard.refund import service as refunds
from roamcard.topup.service.create import create_topup
from tests.factories import make_card, make_catalog


@pytest.fixture
def unwired() -> Iterator[None]:
    previous = outcomes.install(None)
    try:
        yield
    finally:
        outcomes.install(previous)


def _open_payment(database: Database) -> tuple[str, str]:
    with database.transaction() as session:
        make_catalog(session)
        card = make_card(session)
        order, payment = create_topup(
            session, card, product_id="balance-10", currency="USD", payment_method="sandbox"
        )
        return order.id, payment.id


def test_the_app_wires_top_up_and_refund_into_payment() -> None:
    installed = outcomes.current()
    assert installed is wiring.PAYMENT_OUTCOMES
    assert installed.order_paid is wiring.order_paid  # a top-up to `fulfil`, a starter to card_order
    assert installed.late_payment is refunds.refund_late_payment
    assert installed.refund_outcome is refunds.apply_gateway_outcome


def test_wiring_is_idempotent() -> None:
    wiring.wire()
    wiring.wire()
    assert outcomes.current() is wiring.PAYMENT_OUTCOMES


def test_unwired_success_raises_and_changes_nothing(database: Database, unwired: None) -> None:
    order_id, payment_id = _open_payment(database)
    with pytest.raises(outcomes.OutcomesNotWired), database.transaction() as session:
        payment_service.mark_succeeded(session, payment_id, reason="sandbox payment.succeeded")
    with database.reading() as session:
        payment = session.get(Payment, payment_id)
        order = session.get(TopupOrder, order_id)
        assert payment is not None
        assert order is not None
        assert (payment.status, order.status) == ("pending", "pending_payment")


def test_unwired_refund_outcome_raises(database: Database, unwired: None) -> None:
    body = {"kind": "refund", "refund_id": "rfd_x", "outcome": "succeeded"}
    with pytest.raises(outcomes.OutcomesNotWired), database.transaction() as session:
        payment_service._process_gateway_event(session, body, "stripe refund.updated evt_1")


def test_wired_success_fulfils_in_the_same_transaction(database: Database) -> None:
    order_id, payment_id = _open_payment(database)
    with database.transaction() as session:
        assert payment_service.mark_succeeded(session, payment_id, reason="sandbox payment.succeeded")
        order = session.get(TopupOrder, order_id)
        assert order is not None
        assert order.status == "fulfilled"  # before the commit: one atomic change
