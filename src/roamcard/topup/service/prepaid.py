"""Top-ups paid before they exist: a recharge card's value or a dealer's float pays, not a gateway.

The order goes through the same lifecycle as any other (created -> paid -> fulfilled, each transition
recorded) and the same fulfilment, in the caller's transaction: the caller moves the money from its source
(with the order id as the business key) and calls `fulfil_now`, so "source debited + card credited + SMS
queued" is one atomic change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from roamcard.card.states import CardStatus
from roamcard.kit import clock
from roamcard.kit.ids import new_id
from roamcard.kit.money import Money
from roamcard.models import Card, TopupOrder
from roamcard.topup.service.create import CardNotActive
from roamcard.topup.service.fulfil import fulfil
from roamcard.topup.states import Channel, TopupStatus, topup_machine


@dataclass(frozen=True)
class PrepaidItem:
    """What the order buys (a snapshot, like a quote) and its price in the paying source's currency."""

    product_id: str
    product_kind: str
    name_en: str
    name_zh: str
    grants: list[dict[str, Any]]
    validity_days: int | None
    price: Money


def new_order_id() -> str:
    return new_id("top")


def create_paid_order(
    session: Session,
    card: Card,
    item: PrepaidItem,
    *,
    channel: Channel,
    payment_method: str,
    paid_by: str,
    order_id: str | None = None,
) -> TopupOrder:
    """A new order for `card`, already paid by `paid_by` (recorded as the reason of the paid transition).
    `order_id` lets the caller key its source transfer before the order exists."""
    if card.status != CardStatus.ACTIVE.value:
        raise CardNotActive()
    now = clock.now()
    order = TopupOrder(
        id=order_id or new_order_id(),
        card_id=card.id,
        channel=channel.value,
        product_id=item.product_id,
        product_kind=item.product_kind,
        product_name_en=item.name_en,
        product_name_zh=item.name_zh,
        grants=item.grants,
        validity_days=item.validity_days,
        price_amount=item.price.amount,
        price_currency=item.price.currency,
        status=TopupStatus.PENDING_PAYMENT.value,
        payment_method=payment_method,
        created_at=now,
        updated_at=now,
        pay_by=now,
    )
    session.add(order)
    session.flush()
    topup_machine.record_creation(session, order.id, TopupStatus.PENDING_PAYMENT)
    paid = topup_machine.transition(
        session, order.id, TopupStatus.PENDING_PAYMENT, TopupStatus.PAID, reason=paid_by, paid_at=now
    )
    assert paid, "a new order is ours alone"
    return order


def fulfil_now(session: Session, order: TopupOrder) -> TopupOrder:
    """Credit what the order bought and queue its SMS, through the one fulfilment every channel uses."""
    fulfil(session, order.id)
    session.refresh(order)
    return order
