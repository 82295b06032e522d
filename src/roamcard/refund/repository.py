from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from roamcard.models import Allowance, Payment, Refund, TopupOrder
from roamcard.payment.states import PaymentStatus


def get(session: Session, refund_id: str) -> Refund | None:
    return session.get(Refund, refund_id, populate_existing=True)


def lock_order(session: Session, order_id: str) -> TopupOrder | None:
    """The order, re-read under a row lock held until the transaction ends (SELECT … FOR UPDATE on
    PostgreSQL; SQLite's write transaction already excludes every other writer). Every refund decision
    about one order takes it first, so two of them never both see the same refundable value."""
    return session.scalars(
        select(TopupOrder)
        .where(TopupOrder.id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()


def list_for_order(session: Session, order_id: str) -> Sequence[Refund]:
    return session.scalars(
        select(Refund).where(Refund.order_id == order_id).order_by(Refund.created_at, Refund.id)
    ).all()


def list_by_status(session: Session, statuses: Iterable[str], limit: int) -> Sequence[Refund]:
    return session.scalars(
        select(Refund)
        .where(Refund.status.in_(list(statuses)))
        .order_by(Refund.created_at, Refund.id)
        .limit(limit)
    ).all()


def succeeded_payment_for_order(session: Session, order_id: str) -> Payment | None:
    return session.scalars(
        select(Payment)
        .where(Payment.order_id == order_id, Payment.status == PaymentStatus.SUCCEEDED.value)
        .order_by(Payment.created_at.desc())
        .limit(1)
    ).first()


def allowances_of_order(session: Session, order_id: str) -> Sequence[Allowance]:
    return session.scalars(select(Allowance).where(Allowance.order_id == order_id)).all()
