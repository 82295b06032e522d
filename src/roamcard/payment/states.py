from __future__ import annotations

from enum import StrEnum

from roamcard.lifecycle import StateMachine
from roamcard.models import Payment


class PaymentStatus(StrEnum):
    PENDING = "pending"
    UNKNOWN = "unknown"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"


P = PaymentStatus
TRANSITIONS = {
    P.PENDING: {P.SUCCEEDED, P.FAILED, P.EXPIRED, P.UNKNOWN},
    P.UNKNOWN: {P.PENDING, P.SUCCEEDED, P.FAILED, P.EXPIRED},
    P.SUCCEEDED: set(),
    # Money that lands after its order expired, or after the gateway first reported a failure (out-of-order
    # notifications, a payer's retry), is still money received: recorded, then refunded automatically.
    P.FAILED: {P.SUCCEEDED},
    P.EXPIRED: {P.SUCCEEDED},
}

payment_machine = StateMachine("payment", Payment, TRANSITIONS)
SETTLEABLE = (P.PENDING, P.UNKNOWN)
