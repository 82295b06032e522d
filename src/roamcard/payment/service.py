"""Payments: open one at a provider, accept its verified notifications, settle what is unknown."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from roamcard.config import get_settings
from roamcard.db import insert_ignoring_conflict
from roamcard.errors import AppError
from roamcard.jobs.outbox import enqueue
from roamcard.kit import clock
from roamcard.kit.ids import new_id
from roamcard.ledger import service as ledger
from roamcard.models import InboxEvent, Payment, TopupOrder
from roamcard.payment import repository
from roamcard.payment.providers import get_provider
from roamcard.payment.providers.base import GatewayUnavailable, RemoteStatus
from roamcard.payment.states import SETTLEABLE, PaymentStatus, payment_machine
from roamcard.sandbox import signature
from roamcard.topup.states import OPEN_STATUSES, TopupStatus, topup_machine

log = structlog.get_logger("roamcard.payment")

SETTLE_RETRY_SECONDS = 30
# With exponential backoff capped at an hour, this keeps asking for about a day.
SETTLE_MAX_ATTEMPTS = 30


class WebhookRejected(AppError):
    status_code = 400
    code = "webhook_rejected"
    message = "The notification was rejected."


class WebhookUnknownPayment(WebhookRejected):
    status_code = 404
    code = "webhook_unknown_payment"
    message = "The notification names an unknown payment."


class WebhookMismatch(WebhookRejected):
    status_code = 422
    code = "webhook_mismatch"
    message = "The notification's amount or currency does not match the payment."


# -- opening --------------------------------------------------------------------------------------
def open_payment(session: Session, order: TopupOrder, method: str) -> Payment:
    now = clock.now()
    payment = Payment(
        id=new_id("pay"),
        order_id=order.id,
        provider=method,
        amount=order.price_amount,
        currency=order.price_currency,
        status=PaymentStatus.PENDING.value,
        created_at=now,
        updated_at=now,
    )
    session.add(payment)
    session.flush()
    payment_machine.record_creation(session, payment.id, PaymentStatus.PENDING)
    try:
        with session.begin_nested():
            checkout = get_provider(method).create_checkout(session, payment)
    except GatewayUnavailable as exc:
        log.warning("payment.create_unknown", payment_id=payment.id, provider=method, error=str(exc))
        mark_unknown(session, payment, reason="gateway did not answer the create call")
        return payment
    payment.checkout_url = checkout.checkout_url
    payment.provider_reference = checkout.provider_reference
    return payment


def mark_unknown(session: Session, payment: Payment, *, reason: str) -> None:
    payment_machine.transition(
        session, payment.id, PaymentStatus.PENDING, PaymentStatus.UNKNOWN, reason=reason
    )
    topup_machine.transition(
        session, payment.order_id, TopupStatus.PENDING_PAYMENT, TopupStatus.UNKNOWN, reason=reason
    )
    enqueue(
        session,
        "payment.settle_unknown",
        {"payment_id": payment.id},
        run_at=clock.now() + timedelta(seconds=SETTLE_RETRY_SECONDS),
        max_attempts=SETTLE_MAX_ATTEMPTS,
    )


# -- outcomes -------------------------------------------------------------------------------------
def mark_succeeded(session: Session, payment_id: str, *, reason: str) -> bool:
    """Money arrived. Pay the order and fulfil it in the same transaction (one atomic change)."""
    from roamcard.topup.service.fulfil import fulfil

    payment = session.get(Payment, payment_id)
    if payment is None:
        return False
    won = payment_machine.transition_from_any(
        session, payment_id, (*SETTLEABLE, PaymentStatus.EXPIRED), PaymentStatus.SUCCEEDED, reason=reason
    )
    if won is None:
        return False
    ledger.transfer(
        session,
        key=f"{payment_id}:captured",
        debit=ledger.operator_account(session, f"gateway:{payment.provider}", payment.currency),
        credit=ledger.operator_account(session, "sales", payment.currency),
        amount=payment.amount,
        reason="payment",
        reference=payment.order_id,
    )
    paid = topup_machine.transition_from_any(
        session, payment.order_id, OPEN_STATUSES, TopupStatus.PAID, reason=reason, paid_at=clock.now()
    )
    if paid is None:
        # Late payment on an expired or failed order: recorded here, refunded by the refunds flow.
        log.warning("payment.late", payment_id=payment_id, order_id=payment.order_id)
        return True
    fulfil(session, payment.order_id)
    return True


def mark_failed(session: Session, payment_id: str, *, reason: str) -> bool:
    payment = session.get(Payment, payment_id)
    if payment is None:
        return False
    if (
        payment_machine.transition_from_any(
            session, payment_id, SETTLEABLE, PaymentStatus.FAILED, reason=reason
        )
        is None
    ):
        return False
    topup_machine.transition_from_any(
        session, payment.order_id, OPEN_STATUSES, TopupStatus.FAILED, reason=reason
    )
    return True


def settle_unknown(session: Session, payment_id: str) -> None:
    """Ask the gateway. Still no answer: raise, and the job retries with backoff."""
    payment = session.get(Payment, payment_id)
    if payment is None or payment.status != PaymentStatus.UNKNOWN.value:
        return
    remote = get_provider(payment.provider).query(session, payment)  # GatewayUnavailable -> retry
    if remote is RemoteStatus.SUCCEEDED:
        mark_succeeded(session, payment_id, reason="settled by query")
    elif remote in (RemoteStatus.FAILED, RemoteStatus.NOT_FOUND):
        mark_failed(session, payment_id, reason=f"settled by query: {remote.value}")
    elif payment_machine.transition(
        session, payment_id, PaymentStatus.UNKNOWN, PaymentStatus.PENDING, reason="gateway reports it open"
    ):
        topup_machine.transition(
            session,
            payment.order_id,
            TopupStatus.UNKNOWN,
            TopupStatus.PENDING_PAYMENT,
            reason="gateway reports it open",
        )


def expire_payment(session: Session, payment: Payment) -> None:
    """Close the payment at the gateway too, so a late payment cannot land silently."""
    if payment_machine.transition(
        session, payment.id, PaymentStatus.PENDING, PaymentStatus.EXPIRED, reason="payment window passed"
    ):
        try:
            get_provider(payment.provider).close(session, payment)
        except GatewayUnavailable:
            log.warning("payment.close_unknown", payment_id=payment.id)


# -- notifications (inbox) ------------------------------------------------------------------------
class _SandboxEventData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    payment_id: str = Field(max_length=32)
    amount: int = Field(strict=True)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class _SandboxEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=128)
    type: str
    data: _SandboxEventData


SANDBOX_EVENT_TYPES = {"payment.succeeded", "payment.failed"}


def accept_sandbox_notification(session: Session, raw_body: bytes, signature_header: str | None) -> bool:
    """Verify on the raw bytes, check against our payment, store once, queue the handling.
    Returns False for a repeat of an accepted event (answered 200, nothing changes)."""
    settings = get_settings()
    try:
        signature.verify(
            settings.sandbox_webhook_secret.get_secret_value(),
            signature_header,
            raw_body,
            time.time(),
            settings.webhook_tolerance_seconds,
        )
    except signature.SignatureError as exc:
        log.warning("webhook.rejected", source="sandbox", reason=str(exc))
        raise WebhookRejected() from exc
    try:
        event = _SandboxEvent.model_validate_json(raw_body)
    except ValidationError as exc:
        log.warning("webhook.rejected", source="sandbox", reason="malformed body")
        raise WebhookRejected() from exc
    if event.type not in SANDBOX_EVENT_TYPES:
        log.info("webhook.ignored", source="sandbox", event_type=event.type)
        return False
    payment = session.get(Payment, event.data.payment_id)
    if payment is None or payment.provider != "sandbox":
        log.warning("webhook.rejected", source="sandbox", reason="unknown payment", event_id=event.id)
        raise WebhookUnknownPayment()
    if (event.data.amount, event.data.currency) != (payment.amount, payment.currency):
        log.warning(
            "webhook.rejected",
            source="sandbox",
            reason="amount or currency mismatch",
            event_id=event.id,
            payment_id=payment.id,
        )
        raise WebhookMismatch()
    return store_in_inbox(session, "sandbox", event.id, event.type, raw_body)


def store_in_inbox(session: Session, source: str, event_id: str, event_type: str, raw_body: bytes) -> bool:
    inserted = insert_ignoring_conflict(
        session,
        InboxEvent,
        {
            "source": source,
            "event_id": event_id,
            "event_type": event_type,
            "body": raw_body.decode("utf-8"),
            "received_at": clock.now(),
        },
    )
    if inserted:
        enqueue(session, "payment.process_event", {"source": source, "event_id": event_id})
    return inserted


def process_event(session: Session, source: str, event_id: str) -> None:
    event = repository.get_inbox_event(session, source, event_id)
    if event is None or event.handled_at is not None:
        return
    body: dict[str, Any] = json.loads(event.body)
    payment_id = body["data"]["payment_id"]
    reason = f"{source} {event.event_type} {event_id}"
    if event.event_type == "payment.succeeded":
        mark_succeeded(session, payment_id, reason=reason)
    elif event.event_type == "payment.failed":
        mark_failed(session, payment_id, reason=reason)
    event.handled_at = clock.now()
