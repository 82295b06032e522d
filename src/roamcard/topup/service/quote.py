"""The one place a price is decided, promotions included, so every channel prices the same way.

A caller that names its `channel` gets the live campaigns applied (promotion/service/apply.py): `price`
is then what is charged, `list_price` the catalogue's price, and `promotion` what was applied. Without a
channel the quote is the catalogue's price alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from roamcard.auth.service import SignedInCard
from roamcard.catalog import repository as catalog_repository
from roamcard.catalog.repository import ProductRow
from roamcard.config import get_settings
from roamcard.errors import AppError, ValidationFailed
from roamcard.i18n import current_language
from roamcard.kit import clock
from roamcard.kit.ids import new_id
from roamcard.kit.money import Money
from roamcard.kit.sql import Tx
from roamcard.ledger.assets import CURRENCY_ASSETS
from roamcard.lifecycle import as_tx
from roamcard.models import Card
from roamcard.promotion.service import apply as promotions
from roamcard.promotion.service import budgets, caps
from roamcard.promotion.service import codes as single_use_codes
from roamcard.promotion.service.pricing import Priced

QUOTE_VALIDITY = timedelta(minutes=15)


class QuoteExpired(AppError):
    status_code = 409
    code = "quote_expired"
    message = "This price is no longer on offer. Check the new price and confirm again."


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
    exclude: frozenset[str] = frozenset(),
    starter: bool = False,
    code_hash: str | None = None,
) -> Quote:
    """`code_hash`: a saved quote's code, which is kept only as its hash (`codes.stored_hash`)."""
    listed = _list_quote(db, card, product_id=product_id, currency=currency, amount=amount, starter=starter)
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
        exclude=exclude,
        code_hash=code_hash,
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


def priced(
    db: Session | Tx,
    card: Card | SignedInCard,
    *,
    product_id: str,
    currency: str,
    amount: int | None,
    channel: str,
    payment_method: str | None,
    promo_code: str | None,
    exclude: frozenset[str] = frozenset(),
    starter: bool = False,
) -> Quote:
    """`quote` for an order or a shown price: a promo code given must have applied (422 saying why;
    `exclude`: campaigns at their cap, `promo_exhausted` for their code)."""
    found = quote(
        db,
        card,
        product_id=product_id,
        currency=currency,
        amount=amount,
        channel=channel,
        payment_method=payment_method,
        promo_code=promo_code,
        exclude=exclude,
        starter=starter,
    )
    if promo_code:
        applied = found.promotion.campaign_ids if found.promotion is not None else []
        promotions.check_code(as_tx(db), promo_code, applied, exhausted=exclude)
    return found


_QUOTE_CODE = "SELECT promo_code_hash FROM quotes WHERE id = :id"


def reserved(
    db: Session | Tx,
    card: Card | SignedInCard,
    order_id: str,
    *,
    quote_id: str | None,
    **pricing: Any,
) -> Quote:
    """The order's price with its capped campaigns' slots claimed (promotion/service/caps.py) and its
    budgeted campaigns' value held (budgets.py). A campaign at its cap or short of budget is
    left out and the order priced again without it; with a quote that is `QuoteExpired`."""
    tx = as_tx(db)
    found = quoted(tx, card, quote_id, **pricing) if quote_id else priced(tx, card, **pricing)
    held: set[str] = set()
    full: set[str] = set()
    while found.promotion is not None:
        wanted = [c for c in found.promotion.applied if c.id not in held]
        refused = caps.reserve(tx, wanted, order_id=order_id, card_id=card.id)
        short = budgets.reserve(
            tx, [c for c in wanted if c.id not in refused], found.promotion, order_id=order_id
        )
        caps.give_back(tx, short, order_id=order_id)  # a slot of a campaign its budget cannot cover
        refused += short
        held |= {c.id for c in wanted if caps.capped(c) or budgets.budgeted(c)} - set(refused)
        if not refused:
            break
        if quote_id:
            raise QuoteExpired()
        full |= set(refused)
        found = priced(tx, card, exclude=frozenset(full), **pricing)
    kept = set(found.promotion.campaign_ids) if found.promotion is not None else set()
    caps.give_back(tx, held - kept, order_id=order_id)
    budgets.give_back(tx, held - kept, order_id=order_id)
    if found.promotion is not None and any(c.single_use_codes for c in found.promotion.applied):
        # Its single-use code is this order's, or the order fails: two orders never share one.
        if quote_id:
            single = single_use_codes.find_by_hash(tx, tx.value(_QUOTE_CODE, id=quote_id))
        else:
            single = single_use_codes.find(tx, pricing.get("promo_code"))
        if single is None or not single_use_codes.take(tx, single.code_hash, order_id=order_id):
            raise promotions.PromoCodeUsed()
    return found


def reserved_bonuses(
    db: Session | Tx,
    card: Card | SignedInCard,
    order_id: str,
    *,
    product_id: str,
    product_kind: str,
    price: Money,
    channel: str,
    payment_method: str,
) -> Priced | None:
    """The bonuses of an order paid before it exists at a price fixed elsewhere (a recharge card's face
    value), with their caps and budgets held as `reserved` holds them; None when no campaign gives one.
    A campaign at its cap or short of budget is left out and the rest priced again. If the order is then
    not written (a lost race), the caller gives the holds back with `give_back`."""
    tx = as_tx(db)
    full: set[str] = set()
    coverage: tuple[str, ...] = ()
    looked_up = False
    while True:
        found = promotions.price_order(
            tx,
            card_id=card.id,
            card_currency=card.currency,
            product_id=product_id,
            product_kind=product_kind,
            coverage=coverage,
            list_price=price,
            channel=channel,
            payment_method=payment_method,
            exclude=frozenset(full),
            bonuses_only=True,
        )
        if not found.bonuses:
            return None  # the usual case: one read of the live campaigns
        if not looked_up and any(b.asset not in CURRENCY_ASSETS and not b.coverage for b in found.bonuses):
            # A bonus pack covers what the product covers: read it only when a pack is given.
            looked_up = True
            product = catalog_repository.active_product(tx, product_id)
            coverage = tuple(product.coverage) if product is not None else ()
            if coverage:
                continue
        refused = caps.reserve(tx, found.applied, order_id=order_id, card_id=card.id)
        short = budgets.reserve(
            tx, [c for c in found.applied if c.id not in refused], found, order_id=order_id
        )
        if not refused and not short:
            return found
        give_back(tx, found.campaign_ids, order_id=order_id)
        full |= set(refused) | set(short)


def give_back(db: Session | Tx, campaign_ids: list[str], *, order_id: str) -> None:
    """Free the slots and budget an order held of these campaigns (an order that was not written)."""
    tx = as_tx(db)
    caps.give_back(tx, campaign_ids, order_id=order_id)
    budgets.give_back(tx, campaign_ids, order_id=order_id)


@dataclass(frozen=True)
class SavedQuote:
    id: str
    quote: Quote
    expires_at: datetime


_INSERT_QUOTE = (
    "INSERT INTO quotes (id, card_id, channel, product_id, currency, amount, payment_method, "
    "promo_code_hash, list_price_amount, charge_amount, promotions, created_at, expires_at) "
    "VALUES (:id, :card_id, :channel, :product_id, :currency, :amount, :payment_method, :promo_code_hash, "
    ":list_price_amount, :charge_amount, :promotions, :created_at, :expires_at)"
)
_PURGE_QUOTES = (
    "DELETE FROM quotes WHERE id IN "
    "(SELECT id FROM quotes WHERE expires_at < :cutoff ORDER BY expires_at LIMIT :limit)"
)
PURGE_CHUNK = 1000


def purge_expired(db: Session | Tx, *, limit: int = PURGE_CHUNK) -> int:
    """Sweeper: delete up to `limit` quotes expired more than ROAMCARD_QUOTE_RETENTION_HOURS (24) ago.
    Nothing refers to a quote once its order is placed (the order records its own price and promotions),
    and an expired quote is refused anyway; deleting it only changes "no such quote" for a very late
    retry. Returns how many were deleted."""
    tx = as_tx(db)
    cutoff = clock.now() - timedelta(hours=get_settings().quote_retention_hours)
    return tx.run(_PURGE_QUOTES, cutoff=cutoff, limit=limit)


_READ_QUOTE = (
    "SELECT product_id, currency, amount, payment_method, promo_code_hash, charge_amount, promotions, "
    "expires_at FROM quotes WHERE id = :id AND card_id = :card_id"
)


def save_quote(
    db: Session | Tx,
    card: Card | SignedInCard,
    *,
    product_id: str,
    currency: str,
    amount: int | None,
    channel: str,
    payment_method: str | None = None,
    promo_code: str | None = None,
) -> SavedQuote:
    """A price to show, kept for `QUOTE_VALIDITY`: an order placed with its id pays exactly this."""
    tx = as_tx(db)
    found = priced(
        tx,
        card,
        product_id=product_id,
        currency=currency,
        amount=amount,
        channel=channel,
        payment_method=payment_method,
        promo_code=promo_code,
    )
    now = clock.now()
    saved = SavedQuote(new_id("quo"), found, now + QUOTE_VALIDITY)
    tx.run(
        _INSERT_QUOTE,
        id=saved.id,
        card_id=card.id,
        channel=channel,
        product_id=found.product.id,
        currency=currency,
        amount=amount,
        payment_method=payment_method,
        promo_code_hash=single_use_codes.stored_hash(tx, promo_code) if promo_code else None,
        list_price_amount=(found.list_price or found.price).amount,
        charge_amount=found.price.amount,
        promotions=tx.json(found.promotions) if found.promotions is not None else None,
        created_at=now,
        expires_at=saved.expires_at,
    )
    return saved


def _applied(record: list[dict[str, Any]] | None) -> list[tuple[Any, ...]]:
    # Names may be edited by a reload; what is given may not.
    return sorted((r["campaign_id"], r["kind"], r.get("asset"), r["amount"]) for r in record or [])


def quoted(
    db: Session | Tx,
    card: Card | SignedInCard,
    quote_id: str,
    *,
    product_id: str,
    currency: str,
    amount: int | None,
    channel: str,
    payment_method: str,
    promo_code: str | None,
    starter: bool = False,
) -> Quote:
    """The order's price from a quote: priced again now, and refused (`QuoteExpired`) unless it is still
    exactly what was shown. The quote's code wins; a different code is a field error."""
    tx = as_tx(db)
    row = tx.one(_READ_QUOTE, id=quote_id, card_id=card.id)
    if row is None:
        raise ValidationFailed("quote_id", "There is no such quote.")
    q_product, q_currency, q_amount, q_method, q_code_hash, q_charge, q_promotions, q_expires = row
    if (q_product, q_currency, q_amount) != (product_id, currency, amount) or q_method not in (
        None,
        payment_method,
    ):
        raise ValidationFailed("quote_id", "This quote is for another recharge.")
    if promo_code and not single_use_codes.names(promo_code, q_code_hash):
        raise ValidationFailed("promo_code", "This is not the promo code of the quote.")
    if (tx.dt(q_expires) or clock.now()) <= clock.now():
        raise QuoteExpired()
    found = quote(
        tx,
        card,
        product_id=product_id,
        currency=currency,
        amount=amount,
        channel=channel,
        payment_method=payment_method,
        code_hash=q_code_hash,
        starter=starter,
    )
    if found.price.amount != q_charge or _applied(found.promotions) != _applied(tx.loads(q_promotions)):
        raise QuoteExpired()
    return found
