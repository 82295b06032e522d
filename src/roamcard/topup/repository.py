from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from roamcard.models import StateTransition, TopupOrder
from roamcard.topup.states import TopupStatus


def get_for_card(session: Session, order_id: str, card_id: int) -> TopupOrder | None:
    order = session.get(TopupOrder, order_id)
    return order if order is not None and order.card_id == card_id else None


def list_history(
    session: Session, card_id: int, *, limit: int, before: tuple[datetime, str] | None = None
) -> Sequence[TopupOrder]:
    """Newest first; `before` is the (created_at, id) of the last row of the previous page."""
    query = select(TopupOrder).where(TopupOrder.card_id == card_id)
    if before is not None:
        created_at, order_id = before
        query = query.where(
            or_(
                TopupOrder.created_at < created_at,
                and_(TopupOrder.created_at == created_at, TopupOrder.id < order_id),
            )
        )
    return session.scalars(
        query.order_by(TopupOrder.created_at.desc(), TopupOrder.id.desc()).limit(limit)
    ).all()


def list_unpaid_past_window(session: Session, now: datetime, limit: int) -> Sequence[str]:
    return session.scalars(
        select(TopupOrder.id)
        .where(TopupOrder.status == TopupStatus.PENDING_PAYMENT.value, TopupOrder.pay_by <= now)
        .order_by(TopupOrder.pay_by)
        .limit(limit)
    ).all()


def list_paid_not_fulfilled(session: Session, older_than: datetime, limit: int) -> Sequence[str]:
    return session.scalars(
        select(TopupOrder.id)
        .where(TopupOrder.status == TopupStatus.PAID.value, TopupOrder.paid_at <= older_than)
        .limit(limit)
    ).all()


def list_events(session: Session, order_id: str) -> Sequence[StateTransition]:
    return session.scalars(
        select(StateTransition)
        .where(StateTransition.entity_type == "topup", StateTransition.entity_id == order_id)
        .order_by(StateTransition.at, StateTransition.id)
    ).all()
