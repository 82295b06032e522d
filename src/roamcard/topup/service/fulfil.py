"""Credit what an order bought, exactly once, and tell the card holder by SMS (the lean path)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from roamcard.card import validity
from roamcard.kit import clock
from roamcard.kit.money import Money
from roamcard.kit.sql import Tx
from roamcard.ledger import service as ledger
from roamcard.ledger.assets import CURRENCY_ASSETS, Asset
from roamcard.lifecycle import as_tx
from roamcard.metrics import TOPUPS_FULFILLED
from roamcard.notification import service as notifications
from roamcard.promotion import labels as promotion_labels
from roamcard.topup.states import TopupStatus, topup_machine

DEFAULT_PACK_VALIDITY_DAYS = 30

# What fulfilment needs of the order (`o`) and its card (`c`), in one read (the order's grants are a
# snapshot). The paying job reads it together with the payment (`payment.outcomes`, `order_paid_reads`).
PAID_ORDER_READS = (
    "o.card_id, o.channel, o.grants, o.validity_days, o.product_id, o.product_name_en, "
    "o.product_name_zh, c.phone, c.language, c.currency, o.promotions, o.price_currency"
)
_PAID_ORDER = (
    f"SELECT {PAID_ORDER_READS} FROM topup_orders o JOIN cards c ON c.id = o.card_id "  # noqa: S608 (constants)
    "WHERE o.id = :id"
)


@dataclass(frozen=True)
class _Holder:
    """The card as the SMS needs it."""

    id: int
    phone: str
    language: str


def _promotions(
    tx: Tx,
    order_id: str,
    card_id: int,
    wallet: ledger.Account,
    wallet_currency: str,
    paid_in: str,
    applied: list[dict[str, Any]],
    product_id: str,
) -> None:
    """Promotion expense pays what the card was given beyond what was charged: each discount to `sales`
    (which then holds the list price, like an undiscounted order), each bonus to the card."""
    expense = "promotion"
    for index, item in enumerate(applied):
        key = f"{order_id}:promotion:{index}"
        if item["kind"] == "discount":
            ledger.transfer(
                tx,
                key=key,
                debit=ledger.operator(tx, expense, paid_in),
                credit=ledger.operator(tx, "sales", paid_in),
                amount=int(item["amount"]),
                reason="promotion_discount",
                reference=order_id,
            )
            continue
        asset = Asset(item["asset"])
        if asset in CURRENCY_ASSETS:
            ledger.transfer(
                tx,
                key=key,
                debit=ledger.operator(tx, expense, asset.value),
                credit=wallet if asset.value == wallet_currency else ledger.wallet(tx, card_id, asset.value),
                amount=int(item["amount"]),
                reason="promotion_bonus",
                reference=order_id,
            )
        else:
            ledger.grant_pack(
                tx,
                key=key,
                card_id=card_id,
                asset=asset,
                amount=int(item["amount"]),
                validity_days=int(item.get("validity_days") or DEFAULT_PACK_VALIDITY_DAYS),
                order_id=order_id,
                product_id=product_id,
                source=expense,
            )


@dataclass(frozen=True)
class PaidOrder:
    """What fulfilment needs of a paid order and its card: read by `fulfil`, or known already by a caller
    that has just written the order (a recharge card's or a dealer's sale), which then reads nothing."""

    card_id: int
    channel: str
    grants: list[dict[str, Any]]
    validity_days: int | None
    product_id: str
    name_en: str
    name_zh: str
    phone: str
    language: str
    currency: str
    promotions: list[dict[str, Any]] | None = None  # what campaigns gave (the order's snapshot)
    price_currency: str | None = None  # what the order was paid in, when it differs from the card's


def fulfil(db: Session | Tx, order_id: str, facts: tuple[Any, ...] | None = None) -> bool:
    """paid -> fulfilled. The conditional transition lets exactly one caller through; the transfers'
    business keys make even a second pass harmless. Returns whether this call fulfilled the order.
    `facts`: the order and card as `PAID_ORDER_READS` names them, if the caller read them already."""
    tx = as_tx(db)
    if not topup_machine.transition(
        tx, order_id, TopupStatus.PAID, TopupStatus.FULFILLED, fulfilled_at=clock.now()
    ):
        return False
    row = facts if facts is not None else tx.one(_PAID_ORDER, id=order_id)
    assert row is not None
    (card_id, channel, grants, validity_days, product_id, name_en, name_zh) = row[:7]
    (phone, language, currency, promoted, paid_in) = row[7:]
    paid = PaidOrder(
        card_id,
        channel,
        tx.loads(grants),
        validity_days,
        product_id,
        name_en,
        name_zh,
        phone,
        language,
        currency,
        tx.loads(promoted) if promoted is not None else None,
        paid_in,
    )
    _credit(tx, order_id, paid)
    return True


def fulfil_known(db: Session | Tx, order_id: str, order: PaidOrder, *, at: datetime) -> bool:
    """`fulfil` for a caller that knows the order (it wrote it in this transaction): the same transition,
    credit and SMS, with `at` as `fulfilled_at`, and no read of the order."""
    tx = as_tx(db)
    if not topup_machine.transition(tx, order_id, TopupStatus.PAID, TopupStatus.FULFILLED, fulfilled_at=at):
        return False
    _credit(tx, order_id, order)
    return True


def _product_text(order: PaidOrder) -> str:
    """The SMS's product: its name, and what promotions gave ("5GB 流量包（春节充值特惠 −¥21.60）")."""
    name = order.name_zh if order.language == "zh-CN" else order.name_en
    return promotion_labels.with_summary(name, order.promotions, order.language)


def _credit(tx: Tx, order_id: str, order: PaidOrder) -> None:
    card_id, currency, validity_days = order.card_id, order.currency, order.validity_days
    # Every channel's recharge keeps the line alive (保号): the card row before ledger rows (lock order).
    validity.extend(tx, card_id, order.product_id)
    wallet = ledger.wallet(tx, card_id, currency)
    for index, grant in enumerate(order.grants):
        key = f"{order_id}:fulfil:{index}"
        asset = Asset(grant["asset"])
        if asset in CURRENCY_ASSETS:
            ledger.transfer(
                tx,
                key=key,
                debit=ledger.operator(tx, "issued", asset.value),
                credit=wallet if asset.value == currency else ledger.wallet(tx, card_id, asset.value),
                amount=int(grant["amount"]),
                reason="topup",
                reference=order_id,
            )
        else:
            ledger.grant_pack(
                tx,
                key=key,
                card_id=card_id,
                asset=asset,
                amount=int(grant["amount"]),
                validity_days=validity_days or DEFAULT_PACK_VALIDITY_DAYS,
                order_id=order_id,
                product_id=order.product_id,
            )
    if order.promotions:
        paid_in = order.price_currency or currency
        _promotions(tx, order_id, card_id, wallet, currency, paid_in, order.promotions, order.product_id)
    notifications.queue_sms(
        tx,
        _Holder(card_id, order.phone, order.language),
        "topup_fulfilled",
        key=f"{order_id}:fulfilled",
        order_id=order_id,
        product=_product_text(order),
        balance=Money(ledger.balance(tx, wallet), currency),
    )
    TOPUPS_FULFILLED.labels(order.channel).inc()
