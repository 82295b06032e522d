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

from roamcard.auth.service import SignedInCard
from roamcard.card.states import CardStatus
from roamcard.kit import clock
from roamcard.kit.ids import new_id
from roamcard.kit.money import Money
from roamcard.kit.sql import Tx
from roamcard.lifecycle import HISTORY, as_tx
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


_INSERT_ORDER = (
    "INSERT INTO topup_orders (id, card_id, channel, product_id, product_kind, product_name_en, "
    "product_name_zh, grants, validity_days, price_amount, price_currency, status, payment_method, "
    "created_at, updated_at, pay_by) VALUES (:id, :card_id, :channel, :product_id, :product_kind, "
    ":name_en, :name_zh, :grants, :validity_days, :price_amount, :price_currency, :status, "
    ":payment_method, :now, :now, :now)"
)
# PostgreSQL: the order and its creation in the history in one statement (SQLite: the two in turn).
_INSERT_ORDER_RECORDED = (
    f"WITH created AS ({_INSERT_ORDER} RETURNING id) "  # noqa: S608 (constants only)
    f"INSERT INTO {HISTORY.name} (entity_type, entity_id, from_status, to_status, reason, at) "
    "SELECT :entity_type, id, NULL, :status, NULL, :now FROM created"
)


def create_paid_order(
    db: Session | Tx,
    card: Card | SignedInCard,
    item: PrepaidItem,
    *,
    channel: Channel,
    payment_method: str,
    paid_by: str,
    order_id: str | None = None,
) -> str:
    """A new order for `card`, already paid by `paid_by` (recorded as the reason of the paid transition);
    returns its id. `order_id` lets the caller key its source transfer before the order exists."""
    if card.status != CardStatus.ACTIVE.value:
        raise CardNotActive()
    tx = as_tx(db)
    now = clock.now()
    order_id = order_id or new_order_id()
    order = dict(
        id=order_id,
        card_id=card.id,
        channel=channel.value,
        product_id=item.product_id,
        product_kind=item.product_kind,
        name_en=item.name_en,
        name_zh=item.name_zh,
        grants=tx.json(item.grants),
        validity_days=item.validity_days,
        price_amount=item.price.amount,
        price_currency=item.price.currency,
        status=TopupStatus.PENDING_PAYMENT.value,
        payment_method=payment_method,
        now=now,
    )
    if tx.is_sqlite:
        tx.run(_INSERT_ORDER, **order)
        topup_machine.record_creation(tx, order_id, TopupStatus.PENDING_PAYMENT, at=now)
    else:
        tx.run(_INSERT_ORDER_RECORDED, entity_type=topup_machine.entity_type, **order)
    paid = topup_machine.transition(
        tx, order_id, TopupStatus.PENDING_PAYMENT, TopupStatus.PAID, reason=paid_by, paid_at=now
    )
    assert paid, "a new order is ours alone"
    return order_id


def fulfil_now(session: Session, order_id: str) -> TopupOrder:
    """Credit what the order bought and queue its SMS, through the one fulfilment every channel uses."""
    fulfil(session, order_id)
    order = session.get(TopupOrder, order_id)
    assert order is not None
    return order
