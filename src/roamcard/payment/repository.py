from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from roamcard.kit import clock
from roamcard.kit.sql import Tx
from roamcard.models import InboxEvent, Payment
from roamcard.payment.states import PaymentStatus


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
