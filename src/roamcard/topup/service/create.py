"""Create a top-up order: one quote, one order, one payment at the chosen provider.

`create_topup` works inside the caller's transaction. `place_topup` is the request's whole use case: it
commits the order and payment, opens a remote gateway's checkout with no transaction open (so no write
lock is held while the gateway thinks), then records the answer and the idempotent response."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from roamcard.card.states import CardStatus
from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.errors import AppError
from roamcard.idempotency import service as idempotency
from roamcard.idempotency.service import StoredResponse
from roamcard.kit import clock
from roamcard.kit.ids import new_id
from roamcard.models import Card, Payment, TopupOrder
from roamcard.payment import service as payment_service
from roamcard.payment.providers.base import ClientContext
from roamcard.topup.service.quote import quote
from roamcard.topup.states import Channel, TopupStatus, topup_machine


class CardNotActive(AppError):
    status_code = 409
    code = "card_not_active"
    message = "This card is suspended. Call customer service."


class CardTopupHeld(AppError):
    status_code = 409
    code = "card_topup_held"
    message = "Recharges on this card are paused while a payment is reviewed. Call customer service."


def create_topup(
    session: Session,
    card: Card,
    *,
    product_id: str,
    currency: str,
    payment_method: str,
    amount: int | None = None,
    channel: Channel = Channel.API,
    client: ClientContext | None = None,
) -> tuple[TopupOrder, Payment]:
    if card.status != CardStatus.ACTIVE.value:
        raise CardNotActive()
    if card.topup_held_at is not None:  # a chargeback: staff decide (dispute/service.py)
        raise CardTopupHeld()
    payment_service.check_method(payment_method, currency)
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
    payment = payment_service.open_payment(session, order, payment_method, client=client)
    session.refresh(order)
    return order, payment


class PaymentNotOpened(AppError):
    status_code = 502
    code = "payment_not_opened"
    message = "The payment provider refused to open this payment. Try again or choose another method."


Render = Callable[[TopupOrder, Payment], dict[str, Any]]


def place_topup(
    database: Database,
    card: Card,
    *,
    scope: str,
    key: str,
    fingerprint: str,
    render: Render,
    client: ClientContext | None = None,
    channel: Channel = Channel.API,
    **fields: Any,
) -> StoredResponse:
    """Idempotent create in up to three short transactions; the remote gateway is called between them.

    1. claim the key, write order + payment, keep a provisional answer, commit;
    2. call the gateway (no transaction open); a timeout leaves the payment unknown for the sweeper;
    3. record the checkout and the final answer. A gateway's refusal fails the order and frees the key.
    """
    with database.transaction() as session:
        replay = idempotency.begin(session, scope=scope, key=key, fingerprint=fingerprint)
        if replay is not None:
            return replay
        order, payment = create_topup(session, card, channel=channel, client=client, **fields)
        body = render(order, payment)
        if not payment_service.awaits_checkout(payment):
            idempotency.finish(session, scope=scope, key=key, status_code=201, body=body)
            return StoredResponse(201, body, replayed=False)
        idempotency.hold(session, scope=scope, key=key, status_code=201, body=body)
    attempt = payment_service.call_create_checkout(payment)
    with database.transaction() as session:
        payment_service.record_checkout(session, payment.id, attempt)
        if attempt.rejected is not None:
            idempotency.abandon(session, scope=scope, key=key)
        else:
            final_order = session.get(TopupOrder, order.id, populate_existing=True)
            final_payment = session.get(Payment, payment.id, populate_existing=True)
            assert final_order is not None
            assert final_payment is not None
            body = render(final_order, final_payment)
            idempotency.finish(session, scope=scope, key=key, status_code=201, body=body)
    if attempt.rejected is not None:
        raise PaymentNotOpened()
    return StoredResponse(201, body, replayed=False)
