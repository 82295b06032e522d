"""One lock order (payment, then its order): expiry and a success notification for the same order, run
in parallel many times, never deadlock and always leave a consistent result (docs/CONVENTIONS.md)."""

from __future__ import annotations

from sqlalchemy import select

from roamcard.db import Database
from roamcard.jobs.sweepers import expire_unpaid_orders
from roamcard.kit import clock
from roamcard.ledger import service as ledger
from roamcard.models import Card, Payment, Refund, TopupOrder
from roamcard.payment import service as payment_service
from roamcard.topup.service.create import create_topup
from tests.factories import make_card, make_catalog
from tests.payment.test_sandbox_webhook import run_in_parallel

ROUNDS = 25


def test_expiry_and_success_in_parallel_never_deadlock(
    database: Database, frozen_clock: clock.FrozenClock
) -> None:
    with database.transaction() as session:
        make_catalog(session)
        card_id = make_card(session).id
    outcomes: set[tuple[str, str, int]] = set()
    for _ in range(ROUNDS):
        with database.transaction() as session:
            card = session.get(Card, card_id)
            assert card is not None
            order, payment = create_topup(
                session, card, product_id="balance-10", currency="USD", payment_method="sandbox"
            )
            order_id, payment_id = order.id, payment.id
        frozen_clock.advance(hours=1)  # past the window: the sweeper expires it while the payment lands

        def succeed(payment_id: str = payment_id) -> None:
            with database.transaction() as session:
                payment_service.mark_succeeded(session, payment_id, reason="sandbox payment.succeeded")

        results = run_in_parallel(2, lambda i: expire_unpaid_orders(database) if i == 0 else succeed())
        assert [r for r in results if isinstance(r, Exception)] == []
        with database.reading() as session:
            order_row = session.get(TopupOrder, order_id)
            payment_row = session.get(Payment, payment_id)
            assert order_row is not None
            assert payment_row is not None
            refunds = session.scalars(select(Refund).where(Refund.order_id == order_id)).all()
            outcome = (order_row.status, payment_row.status, len(refunds))
        # Either the money won (fulfilled) or the expiry did (and the money is a late payment, refunded).
        assert outcome in {("fulfilled", "succeeded", 0), ("expired", "succeeded", 1)}
        outcomes.add(outcome)
    with database.reading() as session:
        assert ledger.verify(session).ok
