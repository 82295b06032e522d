"""A card order's lifecycle (a new travel card bought online). Its top-up order carries the payment and
moves with it; the card order follows: paid when the money arrives, fulfilled when the card is issued."""

from __future__ import annotations

from enum import StrEnum

from roamcard.lifecycle import StateMachine
from roamcard.models import CardOrder


class CardOrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    UNKNOWN = "unknown"
    PAID = "paid"
    FULFILLED = "fulfilled"
    EXPIRED = "expired"
    FAILED = "failed"
    # Cancelled by a supervisor before the eSIM was installed; a refund was filed for finance to decide.
    CANCELLED = "cancelled"


S = CardOrderStatus
TRANSITIONS = {
    S.PENDING_PAYMENT: {S.PAID, S.EXPIRED, S.FAILED, S.UNKNOWN},
    S.UNKNOWN: {S.PENDING_PAYMENT, S.PAID, S.FAILED, S.EXPIRED},
    S.PAID: {S.FULFILLED, S.CANCELLED},
    S.FULFILLED: {S.CANCELLED},
    S.CANCELLED: set(),
    S.EXPIRED: set(),
    S.FAILED: set(),
}

card_order_machine = StateMachine("card_order", CardOrder, TRANSITIONS)

OPEN_STATUSES = (S.PENDING_PAYMENT, S.UNKNOWN)
