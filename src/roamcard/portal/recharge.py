"""The recharge flow as the website shows it: offers by section, the confirmation step, and starting the
order once per confirmation form. Prices, checks and the order itself come from the top-up service."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from roamcard.catalog import service as catalog
from roamcard.catalog.states import ProductKind
from roamcard.catalog.views import product_name
from roamcard.errors import ValidationFailed
from roamcard.i18n import lazy
from roamcard.idempotency import service as idempotency
from roamcard.kit.ids import new_id
from roamcard.kit.money import Money
from roamcard.models import Card, Product
from roamcard.payment.providers import available_methods
from roamcard.payment.states import PaymentStatus
from roamcard.portal.forms import RechargeChoice, RechargeConfirm, parse_amount
from roamcard.topup.service.create import create_topup
from roamcard.topup.service.quote import Quote, quote
from roamcard.topup.states import Channel

CURRENCIES = ("CNY", "USD")
SECTIONS = (
    (ProductKind.BALANCE, lazy("Balance")),
    (ProductKind.DATA, lazy("Data packs")),
    (ProductKind.VOICE, lazy("Voice packs")),
    (ProductKind.BUNDLE, lazy("Bundles")),
)
METHOD_LABELS = {
    "sandbox": lazy("Test payment (sandbox, no real money)"),
    "alipay": lazy("Alipay"),
    "wechat_pay": lazy("WeChat Pay"),
    "card": lazy("Credit or debit card"),
}


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


def payment_methods() -> list[tuple[str, str]]:
    return [(method, METHOD_LABELS.get(method, method)) for method in available_methods()]


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
    """Exactly what will be charged and credited, and the hidden fields that confirm it."""

    quote: Quote
    currency: str
    payment_method: str
    amount_minor: int | None
    form_id: str


def review(session: Session, card: Card, choice: RechargeChoice) -> Review:
    product = catalog.repository.get_active(session, choice.product_id)
    custom = product is not None and product.custom_min is not None
    amount = parse_amount(choice.amount, card.currency) if custom else None
    if choice.payment_method not in available_methods():
        raise ValidationFailed("payment_method", "This payment method is not available.")
    priced = quote(session, card, product_id=choice.product_id, currency=choice.currency, amount=amount)
    return Review(
        quote=priced,
        currency=choice.currency,
        payment_method=choice.payment_method,
        amount_minor=amount,
        form_id=new_id("frm", 24),
    )


@dataclass(frozen=True)
class Started:
    order_id: str
    checkout_url: str | None
    replayed: bool


def start(session: Session, card: Card, form: RechargeConfirm) -> Started:
    """One order per confirmation form: sending the same form again (double click, back button, reload)
    replays the first answer instead of opening a second payment."""
    fields = form.model_dump(exclude={"form_id"})

    def create() -> tuple[int, dict[str, object]]:
        order, payment = create_topup(
            session,
            card,
            product_id=form.product_id,
            currency=form.currency,
            payment_method=form.payment_method,
            amount=form.amount_minor,
            channel=Channel.WEB,
        )
        checkout = payment.checkout_url if payment.status == PaymentStatus.PENDING.value else None
        return 201, {"order_id": order.id, "checkout_url": checkout}

    stored = idempotency.run_once(
        session,
        scope=f"portal:{card.id}:recharge",
        key=form.form_id,
        fingerprint=idempotency.request_fingerprint("POST", "/recharge/confirm", fields),
        create=create,
    )
    checkout_url = stored.body.get("checkout_url")
    return Started(
        order_id=str(stored.body["order_id"]),
        checkout_url=str(checkout_url) if checkout_url else None,
        replayed=stored.replayed,
    )
