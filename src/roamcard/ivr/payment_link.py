"""A payment link by SMS: the phone channel's way to take a card payment without hearing card details
(keying card numbers into a phone line would bring it into PCI scope). Used by the IVR menu and by agents.

It is an ordinary top-up (`create_topup`, channel `ivr` or `agent`). The SMS carries a link to our own
page, `/pay/link/<token>` (payment/links.py), not the gateway's: a remote gateway's checkout cannot be
opened inside the caller's transaction, so it is opened when the traveller arrives. Paying it completes the
recharge like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from roamcard.catalog import repository as catalog_repository
from roamcard.config import get_settings
from roamcard.errors import AppError
from roamcard.kit.money import Money
from roamcard.models import Card, Product, TopupOrder
from roamcard.notification import service as notifications
from roamcard.payment import links
from roamcard.payment.providers.base import ClientContext
from roamcard.payment.repository import NewPayment
from roamcard.payment.states import PaymentStatus
from roamcard.topup.service.create import NewOrder, create_topup
from roamcard.topup.service.quote import Quote, quote
from roamcard.topup.states import Channel


class PaymentLinkUnavailable(AppError):
    status_code = 503
    code = "payment_link_unavailable"
    message = "We could not create a payment link right now. Please try again later."


@dataclass(frozen=True)
class PaymentLink:
    order: NewOrder
    payment: NewPayment


def product_name(product: Product | TopupOrder | NewOrder, language: str) -> str:
    if isinstance(product, Product):
        return product.name_zh if language == "zh-CN" else product.name_en
    return product.product_name_zh if language == "zh-CN" else product.product_name_en


def phone_products(session: Session, card: Card) -> Sequence[Product]:
    """Fixed-price products payable in the card's currency (a custom amount cannot be keyed in by phone);
    never a starter (a new card, sold by card orders only)."""
    return [
        product
        for product in catalog_repository.list_active(session)
        if product.custom_min is None and card.currency in product.prices and product.kind != "starter"
    ]


def phone_price(session: Session, card: Card, product: Product) -> Quote:
    """What a product costs by phone now, through the one quote step (channel `ivr`, the phone payment
    method): the price spoken is the one the link's order is charged. No code can be keyed in, so only
    code-free campaigns apply."""
    return quote(
        session,
        card,
        product_id=product.id,
        currency=card.currency,
        amount=None,
        channel=Channel.IVR.value,
        payment_method=get_settings().phone_payment_method,
    )


def send_payment_link(session: Session, card: Card, product_id: str, *, channel: Channel) -> PaymentLink:
    order, payment = create_topup(
        session,
        card,
        product_id=product_id,
        currency=card.currency,
        payment_method=get_settings().phone_payment_method,
        channel=channel,
        client=ClientContext(mobile=True),  # it is paid on the phone the link goes to
    )
    if payment.status == PaymentStatus.FAILED.value:
        raise PaymentLinkUnavailable()
    notifications.queue_sms(
        session,
        card,
        "payment_link",
        key=f"{order.id}:payment-link",
        card_tail=card.card_number[-4:],
        product=product_name(order, card.language),
        price=Money(order.price_amount, order.price_currency),
        url=links.issue(session, payment, order.pay_by),
        minutes=get_settings().payment_window_seconds // 60,
    )
    return PaymentLink(order=order, payment=payment)
