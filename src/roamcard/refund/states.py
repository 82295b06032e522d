"""The refund lifecycle: requested -> approved -> processing -> succeeded | failed, or rejected."""

from __future__ import annotations

from enum import StrEnum

from roamcard.lifecycle import StateMachine
from roamcard.models import Refund


class RefundStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"


class RefundKind(StrEnum):
    CUSTOMER = "customer"  # the card holder asked for it
    LATE_PAYMENT = "late_payment"  # money that landed on a closed order, given back automatically
    CARD_CANCELLED = "card_cancelled"  # a new card's order cancelled by a supervisor before install


R = RefundStatus
TRANSITIONS = {
    R.REQUESTED: {R.APPROVED, R.REJECTED},
    # Approval has already taken the value back from the card; the gateway call follows.
    R.APPROVED: {R.PROCESSING},
    R.PROCESSING: {R.SUCCEEDED, R.FAILED},
    R.SUCCEEDED: set(),
    R.FAILED: set(),
    R.REJECTED: set(),
}

refund_machine = StateMachine("refund", Refund, TRANSITIONS)

# Refunds that hold money of the order (so two requests cannot ask for the same money).
HOLDING_MONEY = (R.REQUESTED, R.APPROVED, R.PROCESSING, R.SUCCEEDED)
# Refunds whose reversal of the card's value stands.
HOLDING_VALUE = (R.APPROVED, R.PROCESSING, R.SUCCEEDED)
