"""The one place a price is decided. Promotions will plug in here."""

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


@dataclass(frozen=True)
class Quote:
    product: ProductRow
    price: Money
    grants: list[dict[str, Any]]


def quote(
    db: Session | Tx,
    card: Card | SignedInCard,
    *,
    product_id: str,
    currency: str,
    amount: int | None,
    starter: bool = False,
) -> Quote:
    """`starter`: the price of a new card (a card order); a starter product is sold by nothing else."""
    product = catalog_repository.active_product(as_tx(db), product_id)
    if product is None or (product.kind == "starter") != starter:
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
