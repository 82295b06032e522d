"""Client side of the sandbox gateway. It talks to the gateway in-process (same database) but keeps
the same contract as a remote gateway: open a checkout, query, close."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from roamcard.config import get_settings
from roamcard.kit import clock
from roamcard.kit.sql import Tx
from roamcard.models import Payment
from roamcard.payment.providers.base import (
    AlreadyPaid,
    Checkout,
    RefundOutcome,
    RefundRequest,
    RemoteRefund,
    RemoteStatus,
)
from roamcard.payment.repository import NewPayment
from roamcard.sandbox import service as gateway
from roamcard.sandbox.service import ChargeStatus

SANDBOX_PAGE_GRACE_SECONDS = 3600


class SandboxProvider:
    name = "sandbox"

    def create_checkout(self, db: Session | Tx, payment: Payment | NewPayment) -> Checkout:
        """Opened before our payment row is written (it needs only the payment's id and amount), so the
        row is written once, with its checkout."""
        settings = get_settings()
        base = settings.public_base_url
        # Like a real gateway's page, it stays usable a little past our window (a late payment is refunded).
        window_ends = payment.expires_at or clock.now() + timedelta(seconds=settings.payment_window_seconds)
        charge = gateway.open_charge(
            db,
            reference=payment.id,
            amount=payment.amount,
            currency=payment.currency,
            return_url=f"{base}/topups/{payment.order_id}",
            link_expires_at=window_ends + timedelta(seconds=SANDBOX_PAGE_GRACE_SECONDS),
        )
        return Checkout(checkout_url=f"{base}{charge.checkout_path}", provider_reference=charge.id)

    def query(self, session: Session, payment: Payment) -> RemoteStatus:
        charge = gateway.get_charge_by_reference(session, payment.id)
        if charge is None:
            return RemoteStatus.NOT_FOUND
        return {
            ChargeStatus.OPEN.value: RemoteStatus.PENDING,
            ChargeStatus.APPROVED.value: RemoteStatus.SUCCEEDED,
            ChargeStatus.DECLINED.value: RemoteStatus.FAILED,
            ChargeStatus.CLOSED.value: RemoteStatus.FAILED,
        }[charge.status]

    def close(self, session: Session, payment: Payment) -> None:
        if not gateway.close_charge(session, payment.id):
            raise AlreadyPaid("sandbox: the charge was approved")

    def refund(self, session: Session | None, request: RefundRequest) -> RemoteRefund:
        """The sandbox gateway pays refunds back at once."""
        return RemoteRefund(RefundOutcome.SUCCEEDED, reference=f"sbr_{request.refund_id}")

    def query_refund(self, session: Session | None, request: RefundRequest) -> RemoteRefund:
        return RemoteRefund(RefundOutcome.SUCCEEDED, reference=f"sbr_{request.refund_id}")
