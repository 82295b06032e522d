"""A card's recharge history filtered by time and status (portal history page and CSV export).

Same newest-first cursor as the API's history (`topup.service.read.history`), with filters on top.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from roamcard.errors import ValidationFailed
from roamcard.kit.pagination import InvalidCursor, decode_cursor, encode_cursor
from roamcard.models import Card, TopupOrder
from roamcard.payment import repository as payment_repository
from roamcard.topup.service.read import HistoryPage
from roamcard.topup.states import TopupStatus

EXPORT_LIMIT = 10_000


@dataclass(frozen=True)
class HistoryFilter:
    """`since` inclusive, `until` exclusive (UTC); no statuses means every status."""

    since: datetime | None = None
    until: datetime | None = None
    statuses: tuple[TopupStatus, ...] = ()


def list_filtered(
    session: Session,
    card_id: int,
    filters: HistoryFilter,
    *,
    limit: int,
    before: tuple[datetime, str] | None = None,
) -> Sequence[TopupOrder]:
    query = select(TopupOrder).where(TopupOrder.card_id == card_id)
    if filters.since is not None:
        query = query.where(TopupOrder.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(TopupOrder.created_at < filters.until)
    if filters.statuses:
        query = query.where(TopupOrder.status.in_([s.value for s in filters.statuses]))
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


def search(
    session: Session, card: Card, filters: HistoryFilter, *, limit: int, cursor: str | None
) -> HistoryPage:
    before = None
    if cursor:
        try:
            before = decode_cursor(cursor)
        except InvalidCursor:
            raise ValidationFailed(
                "cursor", "This page link is not valid. Start from the first page."
            ) from None
    orders = list(list_filtered(session, card.id, filters, limit=limit + 1, before=before))
    more = len(orders) > limit
    orders = orders[:limit]
    items = [(o, payment_repository.get_latest_for_order(session, o.id)) for o in orders]
    next_cursor = encode_cursor(orders[-1].created_at, orders[-1].id) if more else None
    return HistoryPage(items=items, next_cursor=next_cursor)


def export(session: Session, card: Card, filters: HistoryFilter) -> Sequence[TopupOrder]:
    """Every matching order, newest first (capped: a CSV is for a person, not a data dump)."""
    return list_filtered(session, card.id, filters, limit=EXPORT_LIMIT)
