"""Reading a card's top-ups: one order, the history page by page."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from roamcard.errors import NotFound, ValidationFailed
from roamcard.kit.pagination import InvalidCursor, decode_cursor, encode_cursor
from roamcard.models import Card, Payment, TopupOrder
from roamcard.payment import repository as payment_repository
from roamcard.topup import repository


class TopupNotFound(NotFound):
    code = "topup_not_found"
    message = "There is no such recharge on this card."


def get_topup(session: Session, card: Card, order_id: str) -> tuple[TopupOrder, Payment | None]:
    order = repository.get_for_card(session, order_id, card.id)
    if order is None:
        raise TopupNotFound()
    return order, payment_repository.get_latest_for_order(session, order.id)


@dataclass(frozen=True)
class HistoryPage:
    items: list[tuple[TopupOrder, Payment | None]]
    next_cursor: str | None


def history(session: Session, card: Card, *, limit: int, cursor: str | None) -> HistoryPage:
    before = None
    if cursor:
        try:
            before = decode_cursor(cursor)
        except InvalidCursor:
            raise ValidationFailed(
                "cursor", "This page link is not valid. Start from the first page."
            ) from None
    orders = list(repository.list_history(session, card.id, limit=limit + 1, before=before))
    more = len(orders) > limit
    orders = orders[:limit]
    items = [(o, payment_repository.get_latest_for_order(session, o.id)) for o in orders]
    next_cursor = encode_cursor(orders[-1].created_at, orders[-1].id) if more else None
    return HistoryPage(items=items, next_cursor=next_cursor)
