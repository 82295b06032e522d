"""The top-up order lifecycle, shared by every channel."""

from __future__ import annotations

from enum import StrEnum

from roamcard.lifecycle import StateMachine
from roamcard.models import TopupOrder


class TopupStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    UNKNOWN = "unknown"
    PAID = "paid"
    FULFILLED = "fulfilled"
    EXPIRED = "expired"
    FAILED = "failed"


class Channel(StrEnum):
    API = "api"
    WEB = "web"
    VOUCHER = "voucher"
    IVR = "ivr"
    AGENT = "agent"  # a customer-service agent acting for the caller (back office)
    POS = "pos"
    PARTNER = "partner"


S = TopupStatus
TRANSITIONS = {
    S.PENDING_PAYMENT: {S.PAID, S.EXPIRED, S.FAILED, S.UNKNOWN},
    # The gateway did not answer: only a query settles it (docs/architecture.md).
    S.UNKNOWN: {S.PENDING_PAYMENT, S.PAID, S.FAILED, S.EXPIRED},
    S.PAID: {S.FULFILLED},
    S.FULFILLED: set(),
    S.EXPIRED: set(),
    S.FAILED: set(),
}

topup_machine = StateMachine("topup", TopupOrder, TRANSITIONS)

OPEN_STATUSES = (S.PENDING_PAYMENT, S.UNKNOWN)
