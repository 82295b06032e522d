"""One interface for every payment provider.

In-process providers (the sandbox) get the caller's transaction (a lean `Tx`) and are called inside it.
Remote gateways (`remote = True`: Alipay, WeChat Pay, Stripe) get `session=None` and a detached payment:
they are only ever called outside a write transaction, so no database lock is held while waiting on
the network (docs/architecture.md). Every call is keyed by our own ids, so calling again is safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from sqlalchemy.orm import Session

from roamcard.kit.sql import Tx
from roamcard.models import Payment
from roamcard.payment.repository import NewPayment


class GatewayUnavailable(Exception):
    """Timeout, connection error or 5xx: the outcome is unknown, never failed (docs/architecture.md)."""


class GatewayRejected(Exception):
    """The gateway answered, and the answer is no (bad request, business error). Not retried."""


class GatewayMismatch(Exception):
    """The gateway's answer does not fit our records (amount, merchant): nothing is changed."""


class AlreadyPaid(Exception):
    """`close` was refused because the payer paid first: the money is there (a late payment)."""


class CheckoutFlow(StrEnum):
    QR = "qr"  # desktop: show a QR code the payer scans with the Alipay / WeChat app
    REDIRECT = "redirect"  # mobile: send the payer's browser to the gateway's page


@dataclass(frozen=True)
class ClientContext:
    """Who is paying, as far as the gateway needs to know (WeChat Pay H5 wants the payer's IP)."""

    ip: str | None = None
    mobile: bool = False

    @property
    def flow(self) -> CheckoutFlow:
        return CheckoutFlow.REDIRECT if self.mobile else CheckoutFlow.QR


@dataclass(frozen=True)
class Checkout:
    checkout_url: str
    provider_reference: str
    # The content of a QR code for the payer to scan (Alipay qr_code, WeChat Pay code_url).
    qr_code: str | None = None


class RemoteStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class RemotePayment:
    """What a gateway says about one payment: status, and what was paid when it succeeded."""

    status: RemoteStatus
    amount: int | None = None
    currency: str | None = None
    transaction_id: str | None = None
    # A gateway that only now tells us the checkout (Stripe, after a create that timed out).
    checkout: Checkout | None = None


class RefundOutcome(StrEnum):
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class RefundRequest:
    refund_id: str  # our id: Alipay out_request_no, WeChat out_refund_no, Stripe idempotency key
    payment_id: str  # our id: the out_trade_no the payment was opened with
    provider_reference: str | None
    transaction_id: str | None
    amount: int
    currency: str
    payment_amount: int
    reason: str
    reference: str | None = None  # the gateway's id of this refund, once known


@dataclass(frozen=True)
class RemoteRefund:
    outcome: RefundOutcome
    reference: str | None = None
    detail: str | None = None


class PaymentProvider(Protocol):
    name: str

    def create_checkout(self, db: Session | Tx, payment: Payment | NewPayment) -> Checkout:
        """Open the payment at the gateway, with our payment id as its reference, before our payment row
        is written. Raises GatewayUnavailable when the gateway does not answer, before writing anything
        (no savepoint is opened around the call)."""
        ...

    def query(self, session: Session, payment: Payment) -> RemoteStatus:
        """Ask the gateway what happened. Raises GatewayUnavailable when it does not answer."""
        ...

    def close(self, session: Session, payment: Payment) -> None:
        """Close an unpaid payment so a late payment cannot land on an expired order. Raises AlreadyPaid
        when the gateway refuses because it was paid."""
        ...


class RemoteGateway(Protocol):
    """A gateway across the network. `method` is what the card holder picks ("card" for Stripe)."""

    name: str
    method: str
    remote: bool
    currencies: frozenset[str]

    def create_checkout(self, session: Session | None, payment: Payment) -> Checkout: ...

    def query(self, session: Session | None, payment: Payment) -> RemotePayment: ...

    def close(self, session: Session | None, payment: Payment) -> None: ...

    def refund(self, session: Session | None, request: RefundRequest) -> RemoteRefund:
        """Send the refund; the same request twice refunds once (keyed by our refund id)."""
        ...

    def query_refund(self, session: Session | None, request: RefundRequest) -> RemoteRefund: ...
