"""What each order status is called in front of a user."""

from __future__ import annotations

from roamcard.i18n import gettext, lazy
from roamcard.topup.states import TopupStatus

STATUS_LABELS = {
    TopupStatus.PENDING_PAYMENT: lazy("Waiting for payment"),
    TopupStatus.UNKNOWN: lazy("Confirming payment"),
    TopupStatus.PAID: lazy("Paid, completing the recharge"),
    TopupStatus.FULFILLED: lazy("Completed"),
    TopupStatus.EXPIRED: lazy("Expired unpaid"),
    TopupStatus.FAILED: lazy("Payment failed"),
}


def status_label(status: str, language: str | None = None) -> str:
    return gettext(STATUS_LABELS[TopupStatus(status)], language)
