"""Client side of the sandbox gateway. It talks to the gateway in-process (same database) but keeps
the same contract as a remote gateway: open a checkout, query, close."""

from __future__ import annotations

from sqlalchemy.orm import Session

from roamcard.config import get_settings
from roamcard.models import Payment
from roamcard.payment.providers.base import (
    Checkout,
    RefundOutcome,
    RefundRequest,
    RemoteRefund,
    RemoteStatus,
)
from roamcard.sandbox import service as gateway
from roamcard.sandbox.service import ChargeStatus


class SandboxProvider:
    name = "sandbox"

    def create_checkout(self, session: Session, payment: Payment) -> Checkout:
        base = get_settings().public_base_url
        charge = gateway.open_charge(
            session,
            reference=payment.id,
            amount=payment.amount,
            currency=payment.currency,
            return_url=f"{base}/topups/{payment.order_id}",
        )
        return Checkout(checkout_url=f"{base}/sandbox/checkout/{payment.id}", provider_reference=charge.id)

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
        gateway.close_charge(session, payment.id)

    def refund(self, session: Session | None, request: RefundRequest) -> RemoteRefund:
        """The sandbox gateway pays refunds back at once."""
        return RemoteRefund(RefundOutcome.SUCCEEDED, reference=f"sbr_{request.refund_id}")

    def query_refund(self, session: Session | None, request: RefundRequest) -> RemoteRefund:
        return RemoteRefund(RefundOutcome.SUCCEEDED, reference=f"sbr_{request.refund_id}")
