"""The recharge flow as the website shows it: offers by section, the confirmation step, and starting the
order once per confirmation form. Prices, checks and the order itself come from the top-up service.

The order is placed with `place_topup`: order and payment are committed first, then a real gateway's
checkout is opened with no transaction open, so the user is sent on at once (a QR code to scan on a
desktop, the gateway's page on a phone) and a gateway that does not answer leaves the payment unknown
("confirming payment"), never failed. The confirmation form's one-time id is the idempotency key, scoped
to the card: the same form sent again replays the first answer instead of opening a second payment."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from roamcard.catalog import service as catalog
from roamcard.catalog.states import ProductKind
from roamcard.catalog.views import product_name
from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.errors import ValidationFailed
from roamcard.i18n import gettext, lazy
from roamcard.idempotency import service as idempotency
from roamcard.kit.ids import new_id
from roamcard.kit.money import Money
from roamcard.models import Card, Product
from roamcard.payment.providers import accepts_currency, available_methods, provider_for_method
from roamcard.payment.providers.base import ClientContext
from roamcard.payment.repository import NewPayment
from roamcard.payment.states import PaymentStatus
from roamcard.portal.forms import RechargeChoice, RechargeConfirm, parse_amount
from roamcard.promotion.service import limits as promo_limits
from roamcard.topup.service.create import NewOrder, place_topup
from roamcard.topup.service.quote import Quote, SavedQuote, save_quote
from roamcard.topup.states import Channel

CURRENCIES = ("CNY", "USD")
SECTIONS = (
    (ProductKind.BALANCE, lazy("Balance")),
    (ProductKind.DATA, lazy("Data packs")),
    (ProductKind.VOICE, lazy("Voice packs")),
    (ProductKind.BUNDLE, lazy("Bundles")),
)
METHOD_LABELS = {
    "alipay": lazy("Alipay"),
    "wechat_pay": lazy("WeChat Pay"),
    "card": lazy("Credit or debit card"),
    "sandbox": lazy("Test payment (sandbox, no real money)"),
}
# How long a re-sent confirmation waits for the first one, still talking to the gateway, to finish.
IN_FLIGHT_POLL_SECONDS = 0.25


@dataclass(frozen=True)
class Offer:
    product: Product
    name: str
    price: Money | None  # None for the custom amount: the price follows the amount
    unit_price: Money | None  # custom amount: what 1.00 of balance costs in the chosen currency
    custom_min: Money | None
    custom_max: Money | None
    balance_unit: Money  # 1.00 of the card's balance currency


@dataclass(frozen=True)
class Section:
    kind: str
    title: str
    offers: list[Offer]


def default_currency(language: str) -> str:
    return "CNY" if language == "zh-CN" else "USD"


def _accepts(method: str, currency: str | None) -> bool:
    return currency is None or accepts_currency(provider_for_method(method), currency)


def payment_methods(currency: str | None = None) -> list[tuple[str, str]]:
    """The configured methods (a gateway without settings is not there), those that take `currency` when
    given, in the order people here expect: Alipay, WeChat Pay, card, then the sandbox."""
    order = list(METHOD_LABELS)
    configured = sorted(available_methods(), key=lambda m: (order.index(m) if m in order else len(order), m))
    return [(m, METHOD_LABELS.get(m, m)) for m in configured if _accepts(m, currency)]


def methods_elsewhere(currency: str) -> list[tuple[str, str, str]]:
    """Configured methods that do not take `currency`: (other currency, method, label), to say so."""
    found = []
    for method, label in payment_methods():
        if _accepts(method, currency):
            continue
        other = next((c for c in CURRENCIES if c != currency and _accepts(method, c)), None)
        if other is not None:
            found.append((other, method, label))
    return found


def offers(session: Session, card: Card, currency: str, language: str) -> list[Section]:
    by_kind: dict[str, list[Offer]] = {}
    for product in catalog.products_for_currency(session, currency):
        custom = product.custom_min is not None and product.custom_max is not None
        by_kind.setdefault(product.kind, []).append(
            Offer(
                product=product,
                name=product_name(product, language),
                price=None if custom else Money(product.prices[currency], currency),
                unit_price=Money(product.unit_prices[currency], currency) if custom else None,
                custom_min=Money(product.custom_min, card.currency)
                if product.custom_min is not None
                else None,
                custom_max=Money(product.custom_max, card.currency)
                if product.custom_max is not None
                else None,
                balance_unit=Money(100, card.currency),
            )
        )
    return [
        Section(kind.value, title, by_kind[kind.value]) for kind, title in SECTIONS if kind.value in by_kind
    ]


@dataclass(frozen=True)
class Review:
    """Exactly what will be charged and credited, and the hidden fields that confirm it: the order is
    placed with `quote_id`, so it is charged what this page shows or refused (`quote_expired`)."""

    quote: Quote
    quote_id: str
    currency: str
    payment_method: str
    amount_minor: int | None
    form_id: str
    amount_text: str = ""  # the custom amount as typed, for the promo-code form to send again
    promo_code: str = ""  # the code that applied ("" when none)
    promo_typed: str = ""  # what was typed in the field, shown again to be corrected
    promo_error: str | None = None  # why the code typed did not apply, in the reader's language


def review(
    database: Database, session: Session, card: Card, choice: RechargeChoice, *, client_ip: str | None
) -> Review:
    product = catalog.repository.get_active(session, choice.product_id)
    custom = product is not None and product.custom_min is not None
    amount = parse_amount(choice.amount, card.currency) if custom else None
    if choice.payment_method not in dict(payment_methods(choice.currency)):
        raise ValidationFailed("payment_method", "This payment method is not available.")
    pricing: dict[str, Any] = dict(
        product_id=choice.product_id,
        currency=choice.currency,
        amount=amount,
        channel=Channel.WEB.value,
        payment_method=choice.payment_method,
    )
    code = choice.promo_code.strip()
    problem: str | None = None
    # Priced and kept as the order will be (channel web, this payment method): what is shown is charged.
    with database.tx() as tx:
        saved: SavedQuote | None = None
        if code:
            try:
                with promo_limits.counting(
                    tx,
                    card_id=card.id,
                    client_key=promo_limits.client_key_of(client_ip),
                    channel=Channel.WEB.value,
                    active=True,
                ):
                    saved = save_quote(tx, card, promo_code=code, **pricing)
            except promo_limits.PromoCodeLocked as locked:
                problem = locked.detail()
            except ValidationFailed as refused:
                if refused.field != "promo_code":
                    raise
                problem = gettext(refused.field_message, **refused.field_params)
        if saved is None:  # no code, or one that did not apply: the price without it, the reason shown
            saved = save_quote(tx, card, **pricing)
    return Review(
        quote=saved.quote,
        quote_id=saved.id,
        currency=choice.currency,
        payment_method=choice.payment_method,
        amount_minor=amount,
        form_id=new_id("frm", 24),
        amount_text=choice.amount if custom else "",
        promo_code=code.upper() if problem is None else "",
        promo_typed=code,
        promo_error=problem,
    )


@dataclass(frozen=True)
class Started:
    order_id: str
    checkout_url: str | None  # the gateway's page (or the sandbox's), while the payment is open
    qr: bool  # the payment has a QR code to scan (Alipay / WeChat Pay on a desktop)
    replayed: bool


def _answer(order: NewOrder, payment: NewPayment) -> dict[str, object]:
    open_ = payment.status == PaymentStatus.PENDING.value
    return {
        "order_id": order.id,
        "checkout_url": payment.checkout_url if open_ else None,
        "qr": bool(open_ and payment.qr_code),
    }


def start(database: Database, card: Card, form: RechargeConfirm, client: ClientContext) -> Started:
    """One order per confirmation form: sending the same form again (double click, back button, reload)
    replays the first answer instead of opening a second payment. A second send that arrives while the
    first is still waiting on the gateway waits for it (at most the gateway's timeout)."""
    fields = form.model_dump(exclude={"form_id"})
    deadline = time.monotonic() + get_settings().gateway_timeout_seconds + 5
    while True:
        try:
            stored = place_topup(
                database,
                card,
                scope=f"portal:{card.id}:recharge",
                key=form.form_id,
                fingerprint=idempotency.request_fingerprint("POST", "/recharge/confirm", fields),
                render=_answer,
                client=client,
                channel=Channel.WEB,
                product_id=form.product_id,
                currency=form.currency,
                payment_method=form.payment_method,
                amount=form.amount_minor,
                quote_id=form.quote_id,
            )
            break
        except idempotency.IdempotencyKeyInFlight:
            if time.monotonic() > deadline:
                raise
            time.sleep(IN_FLIGHT_POLL_SECONDS)
    checkout_url = stored.body.get("checkout_url")
    return Started(
        order_id=str(stored.body["order_id"]),
        checkout_url=str(checkout_url) if checkout_url else None,
        qr=bool(stored.body.get("qr")),
        replayed=stored.replayed,
    )
