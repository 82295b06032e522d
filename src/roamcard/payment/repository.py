from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from roamcard.kit import clock
from roamcard.kit.sql import Tx
from roamcard.models import InboxEvent, Payment
from roamcard.payment.states import PaymentStatus


@dataclass
class NewPayment:
    """A payment as the lean path opens it: the attributes of `Payment` that callers and gateways read.
    Mutable like the ORM object (`call_create_checkout` stamps `checkout_sent_at` on it)."""

    id: str
    order_id: str
    provider: str
    amount: int
    currency: str
    status: str
    created_at: datetime
    updated_at: datetime
    description: str | None
    expires_at: datetime | None
    checkout_flow: str | None
    client_ip: str | None
    checkout_url: str | None = None
    provider_reference: str | None = None
    qr_code: str | None = None
    provider_transaction_id: str | None = None
    checkout_sent_at: datetime | None = None
    final_sweep_at: datetime | None = None


# Parameters named `payment_…` where an order's would clash, so the row folds into a caller's statement.
INSERT_PAYMENT = (
    "INSERT INTO payments (id, order_id, provider, amount, currency, status, provider_reference, "
    "checkout_url, qr_code, created_at, updated_at, description, expires_at, checkout_flow, client_ip) "
    "VALUES (:payment_id, :order_id, :provider, :amount, :currency, :payment_status, :provider_reference, "
    ":checkout_url, :qr_code, :payment_created_at, :payment_updated_at, :description, :expires_at, "
    ":checkout_flow, :client_ip)"
)


def payment_row(payment: NewPayment) -> dict[str, Any]:
    """INSERT_PAYMENT's parameters."""
    return {
        "payment_id": payment.id,
        "order_id": payment.order_id,
        "provider": payment.provider,
        "amount": payment.amount,
        "currency": payment.currency,
        "payment_status": payment.status,
        "provider_reference": payment.provider_reference,
        "checkout_url": payment.checkout_url,
        "qr_code": payment.qr_code,
        "payment_created_at": payment.created_at,
        "payment_updated_at": payment.updated_at,
        "description": payment.description,
        "expires_at": payment.expires_at,
        "checkout_flow": payment.checkout_flow,
        "client_ip": payment.client_ip,
    }


def get_latest_for_order(session: Session, order_id: str) -> Payment | None:
    return session.scalars(
        select(Payment).where(Payment.order_id == order_id).order_by(Payment.created_at.desc()).limit(1)
    ).first()


_CLAIM_INBOX_EVENT = (
    "UPDATE inbox_events SET handled_at = :now "
    "WHERE source = :source AND event_id = :event_id AND handled_at IS NULL AND held_reason IS NULL "
    "RETURNING event_type, body"
)


def claim_inbox_event(tx: Tx, source: str, event_id: str) -> tuple[str, str] | None:
    """Mark a verified notification handled and return its (event_type, body); None when it is unknown,
    handled already or held for staff. Marked first, in the transaction that handles it, so a rollback
    leaves it unhandled, and a second job for the same event waits on the row, then finds it handled."""
    row = tx.one(_CLAIM_INBOX_EVENT, now=clock.now(), source=source, event_id=event_id)
    return None if row is None else (row[0], row[1])


def list_open_for_orders(session: Session, order_ids: Sequence[str]) -> Sequence[Payment]:
    return session.scalars(
        select(Payment).where(
            Payment.order_id.in_(order_ids),
            Payment.status.in_([PaymentStatus.PENDING.value, PaymentStatus.UNKNOWN.value]),
        )
    ).all()


def list_unknown(session: Session, updated_before: datetime, limit: int) -> Sequence[Payment]:
    return session.scalars(
        select(Payment)
        .where(Payment.status == PaymentStatus.UNKNOWN.value, Payment.updated_at <= updated_before)
        .limit(limit)
    ).all()


def list_unknown_for_final_sweep(session: Session, opened_before: datetime, limit: int) -> Sequence[str]:
    return session.scalars(
        select(Payment.id)
        .where(
            Payment.status == PaymentStatus.UNKNOWN.value,
            Payment.created_at <= opened_before,
            Payment.final_sweep_at.is_(None),
        )
        .order_by(Payment.created_at)
        .limit(limit)
    ).all()


def list_final_swept(session: Session, limit: int = 100) -> Sequence[Payment]:
    """What the final sweep had to settle or expire, newest first (the back office's list)."""
    return session.scalars(
        select(Payment)
        .where(Payment.final_sweep_at.is_not(None))
        .order_by(Payment.final_sweep_at.desc())
        .limit(limit)
    ).all()


def list_unhandled_events(session: Session, received_before: datetime, limit: int) -> Sequence[InboxEvent]:
    """Verified notifications not handled yet and not held for staff, re-driven at most once per delay."""
    return session.scalars(
        select(InboxEvent)
        .where(
            InboxEvent.handled_at.is_(None),
            InboxEvent.held_reason.is_(None),
            InboxEvent.received_at <= received_before,
            or_(InboxEvent.redriven_at.is_(None), InboxEvent.redriven_at <= received_before),
        )
        .order_by(InboxEvent.received_at)
        .limit(limit)
    ).all()


def list_held_events(session: Session, limit: int = 100) -> Sequence[InboxEvent]:
    return session.scalars(
        select(InboxEvent)
        .where(InboxEvent.held_reason.is_not(None), InboxEvent.handled_at.is_(None))
        .order_by(InboxEvent.received_at.desc())
        .limit(limit)
    ).all()


def list_stuck_events(session: Session, received_before: datetime, limit: int = 100) -> Sequence[InboxEvent]:
    """Re-driven at least once and still not handled: a job keeps failing on it."""
    return session.scalars(
        select(InboxEvent)
        .where(
            InboxEvent.handled_at.is_(None),
            InboxEvent.held_reason.is_(None),
            InboxEvent.redriven_at.is_not(None),
            InboxEvent.received_at <= received_before,
        )
        .order_by(InboxEvent.received_at)
        .limit(limit)
    ).all()
