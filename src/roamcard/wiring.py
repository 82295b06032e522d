"""The composition root: the one place that connects domains which must not import each other.

Payment sits below top-up and refund (they import it; it imports neither), so what happens when a payment
succeeds, lands late or reports a refund's outcome is installed here into `payment.outcomes`, and which
job re-drives another noun's inbox events (SMS delivery callbacks) into `payment.inbox`. Importing
this module wires it; every entry point imports it at module level (`app.create_app`,
`jobs.sweepers.build_worker`, the CLI) and calls `wire()`, which is idempotent, so the dependency is
visible where the process starts. Nothing else installs outcomes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from roamcard.card_order import service as card_orders
from roamcard.kit.sql import Tx
from roamcard.lifecycle import as_tx
from roamcard.notification import webhooks as sms_webhooks
from roamcard.payment import inbox, outcomes
from roamcard.refund import service as refunds
from roamcard.topup.service.fulfil import PAID_ORDER_READS, fulfil

# The payment's order kind routes the paid hook: a starter product is a new card (card_order), anything
# else a top-up. The kind is read with the rest (the last column), so a top-up reads nothing more.
ORDER_PAID_READS = f"{PAID_ORDER_READS}, o.product_kind"


def order_paid(db: Session | Tx, order_id: str, facts: tuple[Any, ...] | None = None) -> bool:
    tx = as_tx(db)
    kind = (
        facts[-1] if facts else tx.value("SELECT product_kind FROM topup_orders WHERE id = :id", id=order_id)
    )
    if kind == "starter":
        return card_orders.fulfil_paid(tx, order_id)
    return fulfil(tx, order_id, facts[:-1] if facts else None)


PAYMENT_OUTCOMES = outcomes.PaymentOutcomes(
    order_paid=order_paid,
    late_payment=refunds.refund_late_payment,
    refund_outcome=refunds.apply_gateway_outcome,
    order_paid_reads=ORDER_PAID_READS,
)


def wire() -> None:
    outcomes.install(PAYMENT_OUTCOMES)
    # The inbox is shared: SMS delivery callbacks are re-driven through the SMS job.
    inbox.route_source(sms_webhooks.TWILIO_SOURCE, sms_webhooks.PROCESS_JOB)


wire()
