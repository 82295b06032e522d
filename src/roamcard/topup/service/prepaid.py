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
from roamcard.card.states import RECHARGEABLE
from roamcard.kit import clock
from roamcard.kit.ids import new_id
from roamcard.kit.money import Money
from roamcard.kit.sql import Tx
from roamcard.lifecycle import HISTORY, as_tx
from roamcard.models import Card
from roamcard.topup.service.create import CardNotActive, NewOrder
from roamcard.topup.service.fulfil import PaidOrder, fulfil_known
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
    list_price: Money | None = None  # with a promotion: the price before its discounts
    promotions: list[dict[str, Any]] | None = None  # what promotions gave (pricing.Priced.to_record)


def new_order_id() -> str:
    return new_id("top")


# The order is written already paid, with both steps in its history (created pending_payment, then paid by
# its source): a new order is this transaction's alone, so there is no race for the transition to decide.
INSERT_PAID_ORDER = (
    "INSERT INTO topup_orders (id, card_id, channel, product_id, product_kind, product_name_en, "
    "product_name_zh, grants, validity_days, price_amount, price_currency, list_price_amount, promotions, "
    "status, payment_method, created_at, updated_at, pay_by, paid_at) VALUES (:id, :card_id, :channel, "
    ":product_id, :product_kind, :name_en, :name_zh, :grants, :validity_days, :price_amount, "
    ":price_currency, :list_price_amount, :promotions, :paid, :payment_method, :now, :now, :now, :now)"
)
# Its two history rows, as `record_creation` and the paid transition write them.
PAID_ORDER_HISTORY = (
    f"{HISTORY.insert_into()}VALUES (:entity_type, :id, NULL, :pending, NULL, :now), "
    "(:entity_type, :id, :pending, :paid, :paid_by, :now)"
)
# PostgreSQL: the order and its history in one statement (SQLite: the two in turn).
_INSERT_PAID_ORDER_RECORDED = f"WITH created AS ({INSERT_PAID_ORDER}) {PAID_ORDER_HISTORY}"


def paid_order(
    tx: Tx,
    card: Card | SignedInCard,
    item: PrepaidItem,
    *,
    channel: Channel,
    payment_method: str,
    order_id: str,
) -> tuple[NewOrder, dict[str, Any]]:
    """The order as it will be written, and the parameters of INSERT_PAID_ORDER and PAID_ORDER_HISTORY
    (without `paid_by`), for a caller that folds the insert into a statement of its own."""
    assert topup_machine.allowed(TopupStatus.PENDING_PAYMENT, TopupStatus.PAID)
    now = clock.now()
    order = NewOrder(
        id=order_id,
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
        status=TopupStatus.PAID.value,
        payment_method=payment_method,
        created_at=now,
        updated_at=now,
        pay_by=now,
        paid_at=now,
        list_price_amount=item.list_price.amount if item.list_price is not None else None,
        promotions=item.promotions,
    )
    params = dict(
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
        list_price_amount=order.list_price_amount,
        promotions=tx.json(item.promotions) if item.promotions is not None else None,
        pending=TopupStatus.PENDING_PAYMENT.value,
        paid=TopupStatus.PAID.value,
        payment_method=payment_method,
        entity_type=topup_machine.entity_type,
        now=now,
    )
    return order, params


def open_paid_order(
    db: Session | Tx,
    card: Card | SignedInCard,
    item: PrepaidItem,
    *,
    channel: Channel,
    payment_method: str,
    paid_by: str,
    order_id: str | None = None,
) -> NewOrder:
    """A new order for `card`, already paid by `paid_by` (recorded as the reason of the paid step), as
    written. `order_id` lets the caller key its source transfer before the order exists."""
    if card.status not in RECHARGEABLE:
        raise CardNotActive()
    tx = as_tx(db)
    order, params = paid_order(
        tx, card, item, channel=channel, payment_method=payment_method, order_id=order_id or new_order_id()
    )
    if tx.is_sqlite:
        tx.run(INSERT_PAID_ORDER, **params)
        tx.run(PAID_ORDER_HISTORY, paid_by=paid_by, **params)
    else:
        tx.run(_INSERT_PAID_ORDER_RECORDED, paid_by=paid_by, **params)
    return order


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
    """`open_paid_order`, returning the order's id."""
    return open_paid_order(
        db, card, item, channel=channel, payment_method=payment_method, paid_by=paid_by, order_id=order_id
    ).id


def fulfil_now(db: Session | Tx, order: NewOrder, card: Card | SignedInCard) -> NewOrder:
    """Credit what the order bought and queue its SMS, through the one fulfilment every channel uses;
    returns the order as it now is (nothing is read back)."""
    now = clock.now()
    known = PaidOrder(
        card_id=card.id,
        channel=order.channel,
        grants=order.grants,
        validity_days=order.validity_days,
        product_id=order.product_id,
        name_en=order.product_name_en,
        name_zh=order.product_name_zh,
        phone=card.phone,
        language=card.language,
        currency=card.currency,
        promotions=order.promotions,
        price_currency=order.price_currency,
    )
    fulfilled = fulfil_known(db, order.id, known, at=now)
    assert fulfilled, "a new paid order is ours alone"
    order.status = TopupStatus.FULFILLED.value
    order.fulfilled_at = order.updated_at = now
    return order
