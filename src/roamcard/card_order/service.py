"""Buying a new travel card online: reserve a profile, take the payment, issue the card when paid.

The order is created on the lean path in one short transaction (two around a remote gateway, exactly as
a top-up's): the client IP's limit, the idempotency key, a provisional card in status `ordered` (no
password anyone knows, so nobody signs in with it), the next available eSIM profile allocated to it
(SKIP LOCKED: each profile at most once; an empty stock answers 409 `esim_out_of_stock` and nothing is
written, so nobody is charged), and a top-up order of the starter product with its payment, opened by the
same payment service and gateways as any top-up. Payment knows only the top-up order; when it is paid
the composition root (`roamcard.wiring`) routes a starter order here: the card takes its profile's ICCID
as its card number, gets a new service password, the starter product is credited by top-up fulfilment,
and the buyer gets the card by SMS (the password in an SMS of its own, shown once on the order page).
An order whose top-up order lapsed unpaid gives its profile back to stock (`release_lapsed`)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from roamcard import keys
from roamcard.auth.service import SignedInCard
from roamcard.card import numbers, passwords
from roamcard.card.states import CardStatus, card_machine
from roamcard.card_order import repository
from roamcard.card_order.states import OPEN_STATUSES, CardOrderStatus, card_order_machine
from roamcard.catalog import repository as catalog_repository
from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.errors import AppError, Unauthorized, ValidationFailed
from roamcard.esim.service import confirmation_sms, inventory
from roamcard.idempotency import service as idempotency
from roamcard.idempotency.service import StoredResponse
from roamcard.kit import clock
from roamcard.kit.ids import new_id
from roamcard.kit.ratelimit import FailureLimit, consume
from roamcard.kit.sql import Tx
from roamcard.ledger import service as ledger
from roamcard.ledger.assets import CURRENCY_ASSETS
from roamcard.lifecycle import HISTORY, as_tx
from roamcard.notification import service as notifications
from roamcard.payment import service as payment_service
from roamcard.payment.providers.base import ClientContext
from roamcard.payment.repository import NewPayment
from roamcard.topup.service import create as topup_create
from roamcard.topup.service.create import NewOrder
from roamcard.topup.service.fulfil import fulfil as fulfil_topup
from roamcard.topup.states import Channel, TopupStatus

SCOPE = "card-orders"
TOKEN_PURPOSE = "card-order-token"  # noqa: S105 (a key purpose name, not a secret)


class EsimOutOfStock(AppError):
    status_code = 409
    code = "esim_out_of_stock"
    message = "No travel cards are available right now. Try again later."


class CardOrdersLimited(AppError):
    status_code = 429
    code = "too_many_card_orders"
    message = "Too many new cards from this network. Try again later."

    def __init__(self, retry_after: int) -> None:
        super().__init__(headers={"Retry-After": str(retry_after)})


class OrderTokenRefused(Unauthorized):
    code = "order_token_refused"
    message = "This order token does not open this order."


# -- the order token: a MAC of the order id (so an idempotent replay can answer it again without its
# clear text ever being stored), kept as its SHA-256 -------------------------------------------------------
def order_token(order_id: str) -> str:
    return keys.mac(TOKEN_PURPOSE, order_id.encode()).split(":", 1)[1]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _limit() -> FailureLimit:
    settings = get_settings()
    return FailureLimit(
        "card-order-ip",
        settings.card_order_ip_limit,
        settings.card_order_ip_window_seconds,
        settings.rate_limit_storage_url,
    )


@dataclass
class PlacedOrder:
    id: str
    status: str
    order: NewOrder
    payment: NewPayment


Render = Callable[[PlacedOrder], dict[str, Any]]


def _reserve(
    tx: Tx,
    *,
    product_id: str,
    currency: str,
    payment_method: str,
    phone: str,
    language: str,
    email: str | None,
    client: ClientContext | None,
) -> PlacedOrder:
    product = catalog_repository.active_product(tx, product_id)
    if product is None or product.kind != "starter":
        raise ValidationFailed("product_id", "There is no such product.")
    try:
        phone = numbers.normalise_phone(phone)
    except numbers.InvalidPhone as exc:
        raise ValidationFailed("phone", str(exc)) from exc
    payment_service.check_method(payment_method, currency)
    balance = [g["asset"] for g in product.grants if g["asset"] in CURRENCY_ASSETS]
    card_currency = balance[0] if balance else get_settings().wallet_currency
    now = clock.now()
    order_id = new_id("cor")
    # A provisional number until paid (then the ICCID); "!" is no hash: no password opens it.
    card_id = tx.value(
        repository.INSERT_CARD,
        card_number=new_id("o", 18),
        password_hash="!",  # noqa: S106 (no hash: nothing verifies against it)
        status=CardStatus.ORDERED.value,
        phone=phone,
        language=language,
        currency=card_currency,
        at=now,
    )
    card_machine.record_creation(tx, card_id, CardStatus.ORDERED, at=now)
    allocated = inventory.allocate(tx, card_id)
    if allocated is None:
        raise EsimOutOfStock()  # the transaction rolls back: no card, no order, no payment
    card = SignedInCard(card_id, "", CardStatus.ORDERED.value, phone, language, card_currency, None)
    order, payment = topup_create._open(
        tx,
        card,
        product_id=product_id,
        currency=currency,
        payment_method=payment_method,
        channel=Channel.WEB,
        client=client,
        starter=True,
    )
    topup_create._write(tx, order, payment)
    status = (
        CardOrderStatus.UNKNOWN if order.status == TopupStatus.UNKNOWN else CardOrderStatus.PENDING_PAYMENT
    )
    tx.run(
        repository.INSERT_ORDER,
        id=order_id,
        status=status.value,
        topup_order_id=order.id,
        card_id=card_id,
        profile_id=allocated.profile_id,
        token_hash=token_hash(order_token(order_id)),
        email=email,
        client_ip=client.ip if client else None,
        at=now,
    )
    card_order_machine.record_creation(tx, order_id, status, at=now)
    return PlacedOrder(order_id, status.value, order, payment)


def place_card_order(
    database: Database,
    *,
    key: str,
    fingerprint: str,
    render: Render,
    client: ClientContext | None = None,
    **fields: Any,
) -> StoredResponse:
    """Idempotent create (see the module's docstring); the answer's body holds no token (the endpoint adds
    `order_token(id)`). A replay is not counted against the client's limit."""
    with database.tx() as tx:
        replay = idempotency.begin(tx, scope=SCOPE, key=key, fingerprint=fingerprint)
        if replay is not None:
            return replay
        if client is not None and client.ip:
            retry_after = consume(_limit(), client.ip)
            if retry_after is not None:
                raise CardOrdersLimited(retry_after)
        placed = _reserve(tx, client=client, **fields)
        payment = placed.payment
        body = render(placed)
        if payment.checkout_url is not None or not payment_service.awaits_checkout(payment):
            idempotency.finish(tx, scope=SCOPE, key=key, status_code=201, body=body)
            return StoredResponse(201, body, replayed=False)
        idempotency.hold(tx, scope=SCOPE, key=key, status_code=201, body=body)
    # A refusal fails its top-up order (`PaymentNotOpened`): `release_lapsed` gives the profile back.
    return topup_create.finish_remote_checkout(
        database, placed.order, payment, scope=SCOPE, key=key, render=lambda: render(placed)
    )


# -- paid: issue the card ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Holder:
    id: int
    phone: str
    language: str


def install_url() -> str:
    return f"{get_settings().public_base_url.rstrip('/')}/esim"


def fulfil_paid(db: Session | Tx, topup_order_id: str) -> bool:
    """The payment hook for a starter order (already moved to `paid` by payment): the card order paid,
    the card issued on its profile (card number = ICCID, a new 8-digit password), the starter product
    credited, the SMS queued, the card order fulfilled. Exactly once: each step is a conditional change."""
    tx = as_tx(db)
    row = tx.one(repository.PAID, id=topup_order_id)
    if row is None:
        return False
    order_id, card_id, iccid, msisdn, phone, language, currency, profile_id = row
    now = clock.now()
    card_order_machine.transition_from_any(tx, order_id, OPEN_STATUSES, CardOrderStatus.PAID, paid_at=now)
    password = numbers.new_password()
    if not card_machine.transition(
        tx,
        card_id,
        CardStatus.ORDERED,
        CardStatus.ACTIVE,
        reason=f"card order {order_id} paid",
        card_number=iccid,
        password_hash=passwords.hash_password(password),
    ):
        return False
    ledger.wallet(tx, card_id, currency)  # the card's wallet, as `issue_card` opens it
    fulfil_topup(tx, topup_order_id)
    holder = _Holder(card_id, phone, language)
    if msisdn:
        notifications.queue_sms(
            tx,
            holder,
            "card_ready_msisdn",
            key=f"{order_id}:card",
            card_number=iccid,
            msisdn=msisdn,
            url=install_url(),
        )
    else:
        notifications.queue_sms(
            tx, holder, "card_ready", key=f"{order_id}:card", card_number=iccid, url=install_url()
        )
    notifications.queue_sms(
        tx,
        holder,
        "card_issued",
        key=password_key(order_id),
        secret_until_shown=True,
        card_number=iccid,
        password=password,
    )
    confirmation_sms.queue(tx, holder, profile_id)  # an SMS of its own, when the profile needs one
    card_order_machine.transition(
        tx, order_id, CardOrderStatus.PAID, CardOrderStatus.FULFILLED, fulfilled_at=now
    )
    return True


def password_key(order_id: str) -> str:
    return f"{order_id}:password"


# -- lapsed unpaid: the profile back to stock ----------------------------------------------------------
def release_lapsed(db: Session | Tx, *, limit: int = 500) -> int:
    """Card orders whose top-up order expired (or failed at the gateway): the order follows it, the
    reserved profile goes back to `available` (with history) and the provisional card is `lapsed`."""
    tx = as_tx(db)
    released = 0
    for order_id, card_id, profile_id, topup_status in tx.all(repository.LAPSED, limit=limit):
        target = CardOrderStatus.FAILED if topup_status == TopupStatus.FAILED else CardOrderStatus.EXPIRED
        now = clock.now()
        if (
            card_order_machine.transition_from_any(tx, order_id, OPEN_STATUSES, target, released_at=now)
            is None
        ):
            continue
        if tx.run(repository.RELEASE_PROFILE, profile_id=profile_id, card_id=card_id):
            tx.run(
                HISTORY.insert_sql(),
                entity_type="esim",
                entity_id=str(profile_id),
                from_status="allocated",
                to_status="available",
                reason=f"card order {order_id} {target.value}",
                at=now,
            )
        card_machine.transition(tx, card_id, CardStatus.ORDERED, CardStatus.LAPSED, reason=target.value)
        released += 1
    return released


# -- read back with the order token --------------------------------------------------------------------
@dataclass(frozen=True)
class CardOrderView:
    id: str
    status: str
    product_id: str
    price_amount: int
    price_currency: str
    created_at: datetime
    pay_by: datetime
    paid_at: datetime | None
    fulfilled_at: datetime | None
    payment: dict[str, Any] | None
    card_number: str | None
    msisdn: str | None
    password: str | None
    card_id: int | None = None


def bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise OrderTokenRefused()
    return token.strip()


def read(session: Session, order_id: str, token: str, *, reveal: bool = True) -> CardOrderView:
    """The order for its token's holder (constant-time compare; the same refusal for an unknown id). The
    new card's password is in the first read after fulfilment only (`reveal_secret_once`); `reveal=False`
    (the order page's status poll) never spends it."""
    tx = as_tx(session)
    row = tx.one(repository.READ, id=order_id)
    if row is None or not hmac.compare_digest(row[2], token_hash(token)):
        raise OrderTokenRefused()
    (_, status, _, created_at, paid_at, fulfilled_at, _, topup_status, product_id, amount, currency, pay_by,
     card_number, msisdn, pay_id, provider, pay_status, checkout_url, qr_code, card_id) = row  # fmt: skip
    if status in OPEN_STATUSES and topup_status in OPEN_STATUSES:
        status = topup_status  # unknown/pending as the payment has it, until the order moves on
    fulfilled = status == CardOrderStatus.FULFILLED
    payment = (
        {
            "id": pay_id,
            "provider": provider,
            "status": pay_status,
            "checkout_url": checkout_url,
            "qr_code": qr_code,
        }
        if pay_id
        else None
    )
    return CardOrderView(
        id=order_id,
        status=status,
        product_id=product_id,
        price_amount=amount,
        price_currency=currency,
        created_at=tx.dt(created_at) or clock.now(),
        pay_by=tx.dt(pay_by) or clock.now(),
        paid_at=tx.dt(paid_at),
        fulfilled_at=tx.dt(fulfilled_at),
        payment=payment,
        card_number=card_number if fulfilled else None,
        msisdn=msisdn if fulfilled else None,
        password=notifications.reveal_secret_once(session, password_key(order_id))
        if fulfilled and reveal
        else None,
        card_id=card_id,
    )
