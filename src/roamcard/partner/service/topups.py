"""What a partner platform does: check that a card can receive a product (a dry run), top it up, read the
top-up back.

A top-up is priced by the one quote step (topup/service/quote.py) with the `partner` channel, so the live
campaigns for it apply, and paid from the partner's float through the one float mechanism
(reseller/floats.py): the partner's cost (price less commission) leaves the float, down to its credit
limit and never past it, and the commission is booked as an expense, so sales receive the full price.
Then the order is fulfilled like any paid order (card credited, SMS queued), and, as it is final, its
callback is queued (callbacks.py). All of it is hand-written SQL in the caller's transaction (the lean
path); a refusal raises, and the endpoint's savepoint leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from roamcard.auth.service import SignedInCard
from roamcard.card.states import RECHARGEABLE
from roamcard.catalog import service as catalog
from roamcard.errors import Conflict, NotFound, ValidationFailed
from roamcard.kit import clock
from roamcard.kit.money import Money
from roamcard.kit.sql import Tx
from roamcard.ledger import service as ledger
from roamcard.lifecycle import as_tx
from roamcard.models import Product
from roamcard.partner import repository
from roamcard.partner.repository import ApiPartner, TopupView
from roamcard.partner.service import callbacks
from roamcard.partner.service.manage import purposes
from roamcard.partner.states import PartnerMode, PartnerTopupStatus, partner_status
from roamcard.reseller import floats
from roamcard.reseller import repository as reseller_repository
from roamcard.topup.service.prepaid import PrepaidItem, fulfil_now, new_order_id, open_paid_order
from roamcard.topup.service.quote import Quote, quote, reserved
from roamcard.topup.states import Channel

PAYMENT_METHOD = "partner"


class PartnerTopupNotFound(NotFound):
    code = "partner_topup_not_found"
    message = "There is no top-up with this external id."


@dataclass(frozen=True)
class Priced:
    """A quote as the partner sees it: what the user pays, the partner's cost and its commission."""

    quote: Quote
    price: Money
    partner_cost: Money
    commission: Money


def _card(tx: Tx, partner: ApiPartner, card_number: str) -> SignedInCard:
    """The card, if this partner may top it up now. The refusals say no more than "it cannot receive
    this top-up" (never its phone, balance or why it is suspended)."""
    card = reseller_repository.card_by_number(tx, card_number)
    if card is None:
        raise ValidationFailed("card_number", "There is no card with this number.")
    if card.status not in RECHARGEABLE or card.topup_held_at is not None:
        raise ValidationFailed("card_number", "This card cannot receive a top-up now.")
    if partner.mode == PartnerMode.SANDBOX.value and not repository.is_sandbox_card(tx, card.id):
        raise ValidationFailed("card_number", "A sandbox partner can only top up sandbox cards.")
    return card


def _check_offer(partner: ApiPartner, product_id: str, currency: str) -> None:
    if currency != partner.currency:
        raise ValidationFailed(
            "currency", "This partner account sells in {currency}.", currency=partner.currency
        )
    if partner.product_ids is not None and product_id not in partner.product_ids:
        raise ValidationFailed("product_id", "This partner may not sell this product.")


def sellable(session: Session, partner: ApiPartner, currency: str) -> list[Product]:
    """What this partner may sell in `currency` (all of the catalogue's, unless its list says less)."""
    products = catalog.products_for_currency(session, currency)
    return [p for p in products if partner.product_ids is None or p.id in partner.product_ids]


def _priced(partner: ApiPartner, found: Quote) -> Priced:
    commission = floats.commission_of(found.price, partner.commission_bps)
    return Priced(found, found.price, found.price - commission, commission)


def validate(
    db: Session | Tx,
    partner: ApiPartner,
    *,
    card_number: str,
    product_id: str,
    currency: str,
    amount: int | None = None,
) -> Priced:
    """The dry run: what a top-up would cost now. Writes nothing (no promotion slot is held)."""
    tx = as_tx(db)
    _check_offer(partner, product_id, currency)
    card = _card(tx, partner, card_number)
    found = quote(
        tx,
        card,
        product_id=product_id,
        currency=currency,
        amount=amount,
        channel=Channel.PARTNER.value,
        payment_method=PAYMENT_METHOD,
    )
    return _priced(partner, found)


_RECORD_TOPUP = (
    "INSERT INTO partner_topups (partner_id, external_id, order_id, card_id, product_id, price_amount, "
    "partner_cost_amount, commission_amount, currency, created_at) VALUES (:partner_id, :external_id, "
    ":order_id, :card_id, :product_id, :price_amount, :partner_cost_amount, :commission_amount, :currency, "
    ":created_at) ON CONFLICT DO NOTHING RETURNING id"
)


class PartnerExternalIdUsed(Conflict):
    """The idempotency key answers a retry; this is the rare case it was purged (after
    ROAMCARD_IDEMPOTENCY_KEY_RETENTION_HOURS) and the partner used the external id again."""

    code = "partner_external_id_used"
    message = "This external id was already used for another top-up."


def create(
    db: Session | Tx,
    partner: ApiPartner,
    *,
    external_id: str,
    card_number: str,
    product_id: str,
    currency: str,
    amount: int | None = None,
) -> TopupView:
    """Top up a card for a partner's user. Raises InsufficientFloat (402) when the float and credit limit
    cannot pay, ValidationFailed (422) for the card, product or currency."""
    tx = as_tx(db)
    _check_offer(partner, product_id, currency)
    card = _card(tx, partner, card_number)
    order_id = new_order_id()
    found = reserved(
        tx,
        card,
        order_id,
        quote_id=None,
        product_id=product_id,
        currency=currency,
        amount=amount,
        channel=Channel.PARTNER.value,
        payment_method=PAYMENT_METHOD,
        promo_code=None,
    )
    priced = _priced(partner, found)
    sales, commission_purpose, _ = purposes(partner.mode)
    commission, net = floats.pay(
        tx,
        floats.Seller(partner.float_account_id, partner.commission_bps, partner.currency, commission_purpose),
        key=f"{order_id}:partner",
        face=priced.price,
        credit=ledger.operator(tx, sales, partner.currency),
        reference=order_id,
        reason="partner_sale",
    )
    order = open_paid_order(
        tx,
        card,
        PrepaidItem(
            product_id=found.product.id,
            product_kind=found.product.kind,
            name_en=found.product.name_en,
            name_zh=found.product.name_zh,
            grants=found.grants,
            validity_days=found.product.validity_days,
            price=found.price,
            list_price=found.list_price,
            promotions=found.promotions,
        ),
        channel=Channel.PARTNER,
        payment_method=PAYMENT_METHOD,
        paid_by=f"partner {partner.public_id} top-up {external_id}"[:200],
        order_id=order_id,
    )
    now = clock.now()
    topup_id = tx.value(
        _RECORD_TOPUP,
        partner_id=partner.id,
        external_id=external_id,
        order_id=order_id,
        card_id=card.id,
        product_id=found.product.id,
        price_amount=priced.price.amount,
        partner_cost_amount=net.amount,
        commission_amount=commission.amount,
        currency=partner.currency,
        created_at=now,
    )
    if topup_id is None:
        raise PartnerExternalIdUsed()
    order = fulfil_now(tx, order, card)
    view = TopupView(
        public_order_id=order_id,
        external_id=external_id,
        order_status=order.status,
        card_number=card.card_number,
        product_id=found.product.id,
        price_amount=priced.price.amount,
        partner_cost_amount=net.amount,
        commission_amount=commission.amount,
        currency=partner.currency,
        created_at=now,
        fulfilled_at=order.fulfilled_at,
    )
    if partner_status(order.status) is not PartnerTopupStatus.PROCESSING:
        callbacks.queue(tx, partner_id=partner.id, topup_id=int(topup_id))
    return view


def get(db: Session | Tx, partner: ApiPartner, external_id: str) -> TopupView:
    found = repository.topup_by_external_id(as_tx(db), partner.id, external_id)
    if found is None:
        raise PartnerTopupNotFound()
    return found
