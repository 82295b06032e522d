from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from roamcard.models import InboxEvent, Payment
from roamcard.payment.states import PaymentStatus


def get_latest_for_order(session: Session, order_id: str) -> Payment | None:
    return session.scalars(
        select(Payment).where(Payment.order_id == order_id).order_by(Payment.created_at.desc()).limit(1)
    ).first()


def get_inbox_event(session: Session, source: str, event_id: str) -> InboxEvent | None:
    return session.scalars(
        select(InboxEvent).where(InboxEvent.source == source, InboxEvent.event_id == event_id)
    ).one_or_none()


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
