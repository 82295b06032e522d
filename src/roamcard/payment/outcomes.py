"""What a settled payment hands on to the order and refund domains, without payment importing them.

The dependency points one way: `topup` and `refund` import `payment`, never the reverse. Where payment
learns something the other domains act on, it calls the hooks installed here:

* `order_paid(db, order_id, facts)`: money arrived for an open order, now `paid` (top-up: `fulfil`);
  `facts` is what `order_paid_reads` names of the order and its card, read by payment together with the
  payment in one statement (None: the hook reads them itself);
* `late_payment(session, payment_id)`: money landed on an order that had closed (refund: give it back;
  the ORM session is opened only then, in the same transaction: `roamcard.db.session_of`);
* `refund_outcome(session, refund_id, outcome, reference=, reason=)`: a gateway reported a refund's result.

They run inside the caller's transaction, after payment has locked its rows, so "payment succeeded + order
paid + fulfilled" stays one atomic change and the lock order (payment, order, card, ledger) is unchanged.
The composition root `roamcard.wiring`, imported by every entry point, installs the implementations.
With nothing installed, payment raises `OutcomesNotWired` (the transaction rolls back) rather than
recording money nobody acts on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session

from roamcard.kit.sql import Tx


class OrderPaid(Protocol):
    def __call__(
        self, db: Session | Tx, order_id: str, facts: tuple[Any, ...] | None = None, /
    ) -> object: ...


class LatePayment(Protocol):
    def __call__(self, session: Session, payment_id: str, /) -> object: ...


class RefundOutcome(Protocol):
    def __call__(
        self, session: Session, refund_id: str, outcome: str, /, *, reference: str | None, reason: str
    ) -> object: ...


@dataclass(frozen=True)
class PaymentOutcomes:
    order_paid: OrderPaid
    late_payment: LatePayment
    refund_outcome: RefundOutcome
    # A select list over `o` (the payment's row of topup_orders) and `c` (its card): what `order_paid`
    # needs, read with the payment so the paying job does not read the order again. Empty: not read.
    order_paid_reads: str = ""


class OutcomesNotWired(RuntimeError):
    """A bug in an entry point: it never imported `roamcard.wiring`."""


_installed: PaymentOutcomes | None = None


def install(outcomes: PaymentOutcomes | None) -> PaymentOutcomes | None:
    """Install the implementations (None uninstalls); returns what was installed before."""
    global _installed
    previous, _installed = _installed, outcomes
    return previous


def current() -> PaymentOutcomes:
    if _installed is None:
        raise OutcomesNotWired("payment outcomes are not wired: the entry point must import roamcard.wiring")
    return _installed
