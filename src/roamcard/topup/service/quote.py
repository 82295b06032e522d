"""The one place a price is decided, promotions included, so every channel prices the same way.

A caller that names its `channel` gets the live campaigns applied (promotion/service/apply.py): `price`
is then what is charged, `list_price` the catalogue's price, and `promotion` what was applied. Without a
channel the quote is the catalogue's price alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from roamcard.auth.service import SignedInCard
from roamcard.catalog import repository as catalog_repository
from roamcard.catalog.repository import ProductRow
from roamcard.errors import ValidationFailed
from roamcard.i18n import current_language
from roamcard.kit.money import Money
from roamcard.kit.sql import Tx
from roamcard.ledger.assets import CURRENCY_ASSETS
from roamcard.lifecycle import as_tx
from roamcard.models import Card
from roamcard.promotion.service import apply as promotions
from roamcard.promotion.service.pricing import Priced


@dataclass(frozen=True)
class Quote:
    product: ProductRow
    price: Money  # what is charged
    grants: list[dict[str, Any]]
    list_price: Money | None = None  # before discounts; None = the same as `price`
    promotion: Priced | None = None  # what promotions gave, when any did

    @property
    def promotions(self) -> list[dict[str, Any]] | None:
        """What the order records of it (None: no promotion applied)."""
        return self.promotion.to_record() if self.promotion is not None else None


def quote(
    db: Session | Tx,
    card: Card | SignedInCard,
    *,
    product_id: str,
    currency: str,
    amount: int | None,
    channel: str | None = None,
    payment_method: str | None = None,
    promo_code: str | None = None,
) -> Quote:
    listed = _list_quote(db, card, product_id=product_id, currency=currency, amount=amount)
    if channel is None:
        return listed
    priced = promotions.price_order(
        as_tx(db),
        card_id=card.id,
        card_currency=card.currency,
        product_id=listed.product.id,
        product_kind=listed.product.kind,
        coverage=listed.product.coverage,
        list_price=listed.price,
        channel=channel,
        payment_method=payment_method,
        promo_code=promo_code,
    )
    if not priced.discounts and not priced.bonuses:
        return listed
    return Quote(
        product=listed.product,
        price=priced.charge,
        grants=listed.grants,
        list_price=listed.price,
        promotion=priced,
    )


def _list_quote(
    db: Session | Tx, card: Card | SignedInCard, *, product_id: str, currency: str, amount: int | None
) -> Quote:
    product = catalog_repository.active_product(as_tx(db), product_id)
    if product is None:
        raise ValidationFailed("product_id", "There is no such product.")
    if product.custom_min is not None and product.custom_max is not None:
        return _quote_custom_amount(card, product, currency, amount, (product.custom_min, product.custom_max))
    if amount is not None:
        raise ValidationFailed("amount", "This product has a fixed amount; leave the amount out.")
    if currency not in product.prices:
        raise ValidationFailed("currency", "This product has no price in {currency}.", currency=currency)
    for grant in product.grants:
        if grant["asset"] in CURRENCY_ASSETS and grant["asset"] != card.currency:
            raise ValidationFailed("product_id", "This product does not fit this card's balance currency.")
    return Quote(
        product=product, price=Money(product.prices[currency], currency), grants=list(product.grants)
    )


def _quote_custom_amount(
    card: Card | SignedInCard,
    product: ProductRow,
    currency: str,
    amount: int | None,
    bounds_minor: tuple[int, int],
) -> Quote:
    low, high = bounds_minor
    if currency not in product.unit_prices:
        raise ValidationFailed("currency", "This product has no price in {currency}.", currency=currency)
    bounds = {
        "minimum": Money(low, card.currency).format(current_language()),
        "maximum": Money(high, card.currency).format(current_language()),
    }
    if amount is None:
        raise ValidationFailed("amount", "Enter an amount between {minimum} and {maximum}.", **bounds)
    if not low <= amount <= high:
        raise ValidationFailed("amount", "Enter an amount between {minimum} and {maximum}.", **bounds)
    unit_price = product.unit_prices[currency]
    price = -(-amount * unit_price // 100)  # round up: never undercharge by a fraction of a cent
    return Quote(
        product=product,
        price=Money(price, currency),
        grants=[{"asset": card.currency, "amount": amount}],
    )
