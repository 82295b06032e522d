"""Create a top-up order: one quote, one order, one payment at the chosen provider."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from roamcard.card.states import CardStatus
from roamcard.config import get_settings
from roamcard.errors import AppError, ValidationFailed
from roamcard.kit import clock
from roamcard.kit.ids import new_id
from roamcard.models import Card, Payment, TopupOrder
from roamcard.payment import service as payment_service
from roamcard.payment.providers import available_methods
from roamcard.topup.service.quote import quote
from roamcard.topup.states import Channel, TopupStatus, topup_machine


class CardNotActive(AppError):
    status_code = 409
    code = "card_not_active"
    message = "This card is suspended. Call customer service."


def create_topup(
    session: Session,
    card: Card,
    *,
    product_id: str,
    currency: str,
    payment_method: str,
    amount: int | None = None,
    channel: Channel = Channel.API,
) -> tuple[TopupOrder, Payment]:
    if card.status != CardStatus.ACTIVE.value:
        raise CardNotActive()
    if payment_method not in available_methods():
        raise ValidationFailed("payment_method", "This payment method is not available.")
    priced = quote(session, card, product_id=product_id, currency=currency, amount=amount)
    now = clock.now()
    order = TopupOrder(
        id=new_id("top"),
        card_id=card.id,
        channel=channel.value,
        product_id=priced.product.id,
        product_kind=priced.product.kind,
        product_name_en=priced.product.name_en,
        product_name_zh=priced.product.name_zh,
        grants=priced.grants,
        validity_days=priced.product.validity_days,
        price_amount=priced.price.amount,
        price_currency=priced.price.currency,
        status=TopupStatus.PENDING_PAYMENT.value,
        payment_method=payment_method,
        created_at=now,
        updated_at=now,
        pay_by=now + timedelta(seconds=get_settings().payment_window_seconds),
    )
    session.add(order)
    session.flush()
    topup_machine.record_creation(session, order.id, TopupStatus.PENDING_PAYMENT)
    payment = payment_service.open_payment(session, order, payment_method)
    session.refresh(order)
    return order, payment
