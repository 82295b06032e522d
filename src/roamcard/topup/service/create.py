"""Create a top-up order: one quote, one order, one payment at the chosen provider.

`create_topup` works inside the caller's transaction (an ORM session or a lean `Tx`). `place_topup` is the
request's whole use case, on the lean path: it checks the card, claims the idempotency key and writes order
and payment in one short transaction; a remote gateway's checkout is then opened with no transaction open
(so no write lock is held while the gateway thinks), and its answer and the idempotent response are
recorded in a second one.

Few statements: an in-process provider (the sandbox) opens its checkout before the payment row is written,
so the row is written once, complete; both creation history rows are one INSERT; on PostgreSQL the order,
the payment, their history and the idempotent answer are one statement (a data-modifying CTE)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from roamcard.auth import service as auth_service
from roamcard.auth.service import SignedInCard
from roamcard.card.states import RECHARGEABLE, CardStatus
from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.errors import AppError
from roamcard.idempotency import service as idempotency
from roamcard.idempotency.service import StoredResponse
from roamcard.kit import clock
from roamcard.kit.ids import new_id
from roamcard.kit.sql import Tx
from roamcard.lifecycle import as_tx
from roamcard.models import Card
from roamcard.payment import repository as payment_repository
from roamcard.payment import service as payment_service
from roamcard.payment.providers.base import ClientContext
from roamcard.payment.repository import NewPayment
from roamcard.payment.states import PaymentStatus, payment_machine
from roamcard.promotion.service import limits as promo_limits
from roamcard.topup.service.quote import SavedQuote, reserved, save_quote
from roamcard.topup.states import Channel, TopupStatus, topup_machine


class CardNotActive(AppError):
    status_code = 409
    code = "card_not_active"
    message = "This card is suspended. Call customer service."


class CardTopupHeld(AppError):
    status_code = 409
    code = "card_topup_held"
    message = "Recharges on this card are paused while a payment is reviewed. Call customer service."


class PaymentNotOpened(AppError):
    status_code = 502
    code = "payment_not_opened"
    message = "The payment provider refused to open this payment. Try again or choose another method."


@dataclass
class NewOrder:
    """A top-up order as the lean path writes it: the attributes of `TopupOrder` that callers read."""

    id: str
    card_id: int
    channel: str
    product_id: str
    product_kind: str
    product_name_en: str
    product_name_zh: str
    grants: list[dict[str, Any]]
    validity_days: int | None
    price_amount: int
    price_currency: str
    status: str
    payment_method: str
    created_at: datetime
    updated_at: datetime
    pay_by: datetime
    paid_at: datetime | None = None
    fulfilled_at: datetime | None = None
    list_price_amount: int | None = None  # with a promotion: before its discounts
    promotions: list[dict[str, Any]] | None = None  # what promotions gave (pricing.Priced.to_record)


_INSERT_ORDER = (
    "INSERT INTO topup_orders (id, card_id, channel, product_id, product_kind, product_name_en, "
    "product_name_zh, grants, validity_days, price_amount, price_currency, list_price_amount, promotions, "
    "status, payment_method, created_at, updated_at, pay_by) VALUES (:order_id, :card_id, :channel, "
    ":product_id, :product_kind, :product_name_en, :product_name_zh, :grants, :validity_days, :price_amount, "
    ":price_currency, :list_price_amount, :promotions, :order_status, :payment_method, :order_created_at, "
    ":order_updated_at, :pay_by)"
)
_CREATION_HISTORY = (
    "INSERT INTO state_transitions (entity_type, entity_id, from_status, to_status, reason, at) VALUES "
    "(:order_entity, :order_id, NULL, :order_status, NULL, :order_created_at), "
    "(:payment_entity, :payment_id, NULL, :payment_status, NULL, :payment_created_at)"
)
# PostgreSQL: one statement, composed of the constants above (no input in the text, hence S608's waiver).
_ORDER_AND_PAYMENT_PG = f"WITH o AS ({_INSERT_ORDER}), p AS ({payment_repository.INSERT_PAYMENT})"
_CREATE_PG = f"{_ORDER_AND_PAYMENT_PG} {_CREATION_HISTORY}"
# With `idempotency.finish` as its last step: the answer of a create complete in this transaction.
_CREATE_AND_ANSWER_PG = f"{_ORDER_AND_PAYMENT_PG}, h AS ({_CREATION_HISTORY}) {idempotency.FINISH_SQL}"
_STORED_NOW = (
    "SELECT topup_orders.status, topup_orders.paid_at, topup_orders.fulfilled_at, payments.status, "
    "payments.checkout_url, payments.provider_reference, payments.qr_code FROM payments "
    "JOIN topup_orders ON topup_orders.id = payments.order_id WHERE payments.id = :payment_id"
)


def create_topup(
    db: Session | Tx,
    card: Card | SignedInCard,
    *,
    product_id: str,
    currency: str,
    payment_method: str,
    amount: int | None = None,
    channel: Channel = Channel.API,
    client: ClientContext | None = None,
    promo_code: str | None = None,
    quote_id: str | None = None,
) -> tuple[NewOrder, NewPayment]:
    tx = as_tx(db)
    order, payment = _open(
        tx,
        card,
        product_id=product_id,
        currency=currency,
        payment_method=payment_method,
        amount=amount,
        channel=channel,
        client=client,
        promo_code=promo_code,
        quote_id=quote_id,
    )
    _write(tx, order, payment)
    return order, payment


def _open(
    tx: Tx,
    card: Card | SignedInCard,
    *,
    product_id: str,
    currency: str,
    payment_method: str,
    amount: int | None = None,
    channel: Channel,
    client: ClientContext | None,
    promo_code: str | None = None,
    quote_id: str | None = None,
    starter: bool = False,
) -> tuple[NewOrder, NewPayment]:
    """The checks, the price, and the payment (its in-process checkout open); the order is not written.
    `starter`: a card order's (`card_order`), for its provisional card in status `ordered`."""
    if (card.status != CardStatus.ORDERED.value) if starter else (card.status not in RECHARGEABLE):
        raise CardNotActive()
    if card.topup_held_at is not None:  # a chargeback: staff decide (dispute/service.py)
        raise CardTopupHeld()
    payment_service.check_method(payment_method, currency)
    if promo_code:  # wrong codes are limited like recharge PINs (promotion/service/limits.py)
        promo_limits.check(
            tx, card_id=card.id, client_key=promo_limits.client_key_of(client.ip if client else None)
        )
    pricing: dict[str, Any] = dict(
        product_id=product_id,
        currency=currency,
        amount=amount,
        channel=channel.value,
        payment_method=payment_method,
        promo_code=promo_code,
        starter=starter,
    )
    order_id = new_id("top")
    priced = reserved(tx, card, order_id, quote_id=quote_id, **pricing)
    now = clock.now()
    order = NewOrder(
        id=order_id,
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
        list_price_amount=priced.list_price.amount if priced.list_price is not None else None,
        promotions=priced.promotions,
    )
    return order, payment_service.open_payment(tx, order, payment_method, client=client)


def _write(
    tx: Tx, order: NewOrder, payment: NewPayment, *, answer: tuple[str, str, dict[str, Any]] | None = None
) -> None:
    """The order and payment rows and their creation history. `answer` (scope, key, body): the idempotent
    response of a create this transaction completes, stored with them."""
    order_row = {
        "order_id": order.id,
        "card_id": order.card_id,
        "channel": order.channel,
        "product_id": order.product_id,
        "product_kind": order.product_kind,
        "product_name_en": order.product_name_en,
        "product_name_zh": order.product_name_zh,
        "grants": tx.json(order.grants),
        "validity_days": order.validity_days,
        "price_amount": order.price_amount,
        "price_currency": order.price_currency,
        "list_price_amount": order.list_price_amount,
        "promotions": tx.json(order.promotions) if order.promotions is not None else None,
        "order_status": order.status,
        "payment_method": order.payment_method,
        "order_created_at": order.created_at,
        "order_updated_at": order.updated_at,
        "pay_by": order.pay_by,
    }
    payment_row = payment_repository.payment_row(payment)
    history = {
        "order_entity": topup_machine.entity_type,
        "order_id": order.id,
        "order_status": order.status,
        "order_created_at": order.created_at,
        "payment_entity": payment_machine.entity_type,
        "payment_id": payment.id,
        "payment_status": payment.status,
        "payment_created_at": payment.created_at,
    }
    if tx.is_sqlite:
        tx.run(_INSERT_ORDER, **order_row)
        tx.run(payment_repository.INSERT_PAYMENT, **payment_row)
        tx.run(_CREATION_HISTORY, **history)
        if answer is not None:
            scope, key, body = answer
            idempotency.finish(tx, scope=scope, key=key, status_code=201, body=body)
    elif answer is None:
        tx.run(_CREATE_PG, **{**order_row, **payment_row, **history})
    else:
        scope, key, body = answer
        stored = idempotency.finish_params(scope=scope, key=key, status_code=201, body=body)
        tx.run(_CREATE_AND_ANSWER_PG, **{**order_row, **payment_row, **history, **stored})
    payment_service.payment_written(tx, payment)
    if payment.status == PaymentStatus.UNKNOWN.value:
        order.status = TopupStatus.UNKNOWN.value  # `mark_unknown` moved the order with its payment


Render = Callable[[NewOrder, NewPayment], dict[str, Any]]


def place_topup(
    database: Database,
    card: Card | SignedInCard | str,
    *,
    scope: str | Callable[[int], str],
    key: str,
    fingerprint: str,
    render: Render,
    client: ClientContext | None = None,
    channel: Channel = Channel.API,
    **fields: Any,
) -> StoredResponse:
    """Idempotent create in one short transaction, or two when a remote gateway is called between them.

    `card` may be the bearer token that names it (the API): the token is then checked as the transaction's
    first statement, the card must be active, and `scope` may be a function of the card's id.

    1. claim the key, write order and payment. An in-process provider's checkout is open already: store the
       answer with them, done. A remote gateway's: keep a provisional answer, commit;
    2. call the gateway (no transaction open); a timeout leaves the payment unknown for the sweeper;
    3. record the checkout and the final answer. A gateway's refusal fails the order and frees the key.
    """
    ip = promo_limits.client_key_of(client.ip if client else None)
    with database.tx() as tx:
        if isinstance(card, str):
            card = auth_service.require_active_card(auth_service.signed_in_card(tx, card))
        if callable(scope):
            scope = scope(card.id)
        # A retry of an order already placed gets its answer first; `_open` then checks the limits.
        with promo_limits.counting(
            tx,
            card_id=card.id,
            client_key=ip,
            channel=channel.value,
            active=bool(fields.get("promo_code")),
            check_first=False,
        ):
            replay = idempotency.begin(tx, scope=scope, key=key, fingerprint=fingerprint)
            if replay is not None:
                return replay
            order, payment = _open(tx, card, channel=channel, client=client, **fields)
            if payment.checkout_url is not None:
                body = render(order, payment)
                _write(tx, order, payment, answer=(scope, key, body))
                return StoredResponse(201, body, replayed=False)
            _write(tx, order, payment)
            body = render(order, payment)
            if not payment_service.awaits_checkout(payment):  # its in-process provider did not answer
                idempotency.finish(tx, scope=scope, key=key, status_code=201, body=body)
                return StoredResponse(201, body, replayed=False)
            idempotency.hold(tx, scope=scope, key=key, status_code=201, body=body)
    return finish_remote_checkout(
        database, order, payment, scope=scope, key=key, render=lambda: render(order, payment)
    )


def finish_remote_checkout(
    database: Database,
    order: NewOrder,
    payment: NewPayment,
    *,
    scope: str,
    key: str,
    render: Callable[[], dict[str, Any]],
) -> StoredResponse:
    """Steps 2 and 3 of a create whose gateway is remote (its order and payment committed, its key held):
    call the gateway with no transaction open, record the checkout, and store the final answer, or free
    the key when the gateway refused (`PaymentNotOpened`). Shared by every create on the payment service."""
    attempt = payment_service.call_create_checkout(payment)
    with database.tx() as tx:
        recorded = payment_service.record_checkout(tx, payment.id, attempt)
        if attempt.rejected is not None:
            idempotency.abandon(tx, scope=scope, key=key)
        else:
            if recorded and attempt.checkout is not None:
                payment.checkout_url = attempt.checkout.checkout_url
                payment.provider_reference = attempt.checkout.provider_reference
                payment.qr_code = attempt.checkout.qr_code
            else:  # unknown now, or it moved on meanwhile: answer what is stored
                _read_back(tx, order, payment)
            body = render()
            idempotency.finish(tx, scope=scope, key=key, status_code=201, body=body)
    if attempt.rejected is not None:
        raise PaymentNotOpened()
    return StoredResponse(201, body, replayed=False)


def place_quote(
    database: Database, token: str, *, client_key: str | None = None, **fields: Any
) -> SavedQuote:
    """`POST /api/v1/quotes` on the lean path: the token check, the price and the quote row (a wrong
    promo code counts against the card's and the client's limit, as on an order)."""
    channel = Channel.API.value
    with database.tx() as tx:
        card = auth_service.require_active_card(auth_service.signed_in_card(tx, token))
        with promo_limits.counting(
            tx,
            card_id=card.id,
            client_key=promo_limits.client_key_of(client_key),
            channel=channel,
            active=bool(fields.get("promo_code")),
        ):
            return save_quote(tx, card, channel=channel, **fields)


def _read_back(tx: Tx, order: NewOrder, payment: NewPayment) -> None:
    row = tx.one(_STORED_NOW, payment_id=payment.id)
    assert row is not None  # written and committed by this create
    order.status, paid_at, fulfilled_at = row[0], row[1], row[2]
    order.paid_at, order.fulfilled_at = tx.dt(paid_at), tx.dt(fulfilled_at)
    payment.status, payment.checkout_url, payment.provider_reference, payment.qr_code = row[3:]
