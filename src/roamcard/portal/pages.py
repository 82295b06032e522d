"""Page builders: what each page shows, from the domain services. GET handlers call them, and so does the
portal route when a form fails (the same page again, with the user's values and the messages)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlalchemy.orm import Session

from roamcard.card import closure as card_closure
from roamcard.card import numbers
from roamcard.card import password_reset as card_password_reset
from roamcard.card import service as card_service
from roamcard.card import settings as card_settings
from roamcard.card.states import RECHARGEABLE, CardStatus
from roamcard.catalog import repository as catalog_repository
from roamcard.catalog.views import product_name
from roamcard.charging.service import alerts as usage_alerts
from roamcard.config import get_settings
from roamcard.esim.service import install as esim_install
from roamcard.i18n import lazy
from roamcard.kit import clock
from roamcard.lifecycle import as_tx
from roamcard.models import Card, Payment, TopupOrder
from roamcard.notification import repository as notification_repository
from roamcard.notification import service as notification_service
from roamcard.payment import qr
from roamcard.payment.states import PaymentStatus
from roamcard.portal import emergency as portal_emergency
from roamcard.portal import recharge
from roamcard.portal.history import STATUS_CHOICES, HistoryQuery
from roamcard.portal.views import View, render
from roamcard.promotion import labels as promotion_labels
from roamcard.promotion.service import offers as promotion_offers
from roamcard.topup import history as topup_history
from roamcard.topup import receipt as receipts
from roamcard.topup.labels import status_label
from roamcard.topup.service import read
from roamcard.topup.states import TopupStatus
from roamcard.voucher.codes import PIN_DIGITS

# Past this, a recharge still in flight is "taking longer than usual" (it normally takes seconds).
SLOW_AFTER = timedelta(seconds=60)
FINAL = (TopupStatus.FULFILLED.value, TopupStatus.FAILED.value, TopupStatus.EXPIRED.value)
ALLOWANCE_LABELS = {"data": lazy("Data"), "voice": lazy("Calls"), "sms": lazy("SMS")}
TIMEZONES = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Tokyo",
    "Asia/Singapore",
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Vancouver",
    "America/Denver",
    "America/Chicago",
    "America/Mexico_City",
    "America/New_York",
    "America/Toronto",
    "Europe/London",
    "UTC",
)


def error(view: View, message: str, *, status_code: int) -> HTMLResponse:
    return render(view, "error.html", status_code=status_code, message=message)


# -- landing ----------------------------------------------------------------------------------------
def landing(
    session: Session, view: View, card: Card | None, *, values: dict[str, str], errors: dict[str, str]
) -> HTMLResponse:
    return render(view, "landing.html", card=card, values=values, errors=errors)


# -- dashboard --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pack:
    label: str
    name: str
    remaining: str
    total: str
    remaining_units: int
    total_units: int
    expires_at: datetime


def dashboard(session: Session, view: View, card: Card) -> HTMLResponse:
    overview = card_service.overview(session, card)
    try:
        esim: esim_install.EsimView | None = esim_install.view_for_card(session, card.id)
    except esim_install.EsimNotIssued:
        esim = None
    packs = []
    coverage: list[str] = []
    states: list[tuple[usage_alerts.PackState, str]] = []
    for allowance in overview.allowances:
        product = (
            catalog_repository.get_active(session, allowance.product_id) if allowance.product_id else None
        )
        if product is not None:
            coverage.extend(code for code in product.coverage if code not in coverage)
        packs.append(
            Pack(
                label=view._(ALLOWANCE_LABELS.get(allowance.kind, allowance.kind)),
                name=product_name(product, view.language) if product else "",
                remaining=view.amount(allowance.asset, allowance.remaining),
                total=view.amount(allowance.asset, allowance.total),
                remaining_units=allowance.remaining,
                total_units=allowance.total,
                expires_at=allowance.expires_at,
            )
        )
        state = usage_alerts.PackState(
            allowance.asset, allowance.remaining, allowance.total, allowance.expires_at, allowance.product_id
        )
        states.append((state, packs[-1].name or view._(ALLOWANCE_LABELS.get(allowance.kind, allowance.kind))))
    return render(
        view,
        "dashboard.html",
        # Usage alerts, shown while the situation lasts (charging/service/alerts.py `banners`).
        alerts=usage_alerts.banners(states, overview.balance, view.language, view.when),
        card=card,
        balance=overview.balance.format(view.language),
        packs=packs,
        active=card.status == CardStatus.ACTIVE.value,
        coverage=view.countries(coverage) if coverage else "",
        phone=numbers.mask_phone(card.phone),
        esim=esim,
        esim_state=view._(ESIM_STATE_LABELS[esim.install_state]) if esim else "",
        network=portal_emergency.network_status(view, overview.network),
        offers=offers_for(session, view, card),
    )


@dataclass(frozen=True)
class OfferBanner:
    name: str
    gives: str
    ends_at: datetime


def offers_for(session: Session, view: View, card: Card) -> list[OfferBanner]:
    """The dashboard banner: the campaigns this card can use now, what each gives (in the currency the
    recharge page opens with, else any it lists) and until when."""
    currencies = (recharge.default_currency(view.language), card.currency, *recharge.CURRENCIES)
    found = []
    for campaign in promotion_offers.available(as_tx(session), card.id):
        texts = (promotion_labels.offer_text(campaign, c, card.currency, view.language) for c in currencies)
        gives = next((text for text in texts if text), None)
        if gives is not None:
            name = promotion_labels.campaign_name(campaign.name_en, campaign.name_zh, view.language)
            found.append(OfferBanner(name, gives, campaign.ends_at))
    return found


# -- eSIM install page ------------------------------------------------------------------------------
ESIM_STATE_LABELS = {
    "not_installed": lazy("Not installed yet"),
    "installed": lazy("Installed"),
    "active": lazy("In use"),
}


def device_platform(user_agent: str) -> str:
    """A phone cannot scan its own screen: an iPhone or Android phone is led to one-tap and manual entry."""
    if any(name in user_agent for name in ("iPhone", "iPad", "iPod")):
        return "ios"
    if "Android" in user_agent:
        return "android"
    return "other"


def esim_page(session: Session, view: View, card: Card, *, user_agent: str) -> HTMLResponse:
    try:
        esim = esim_install.view_for_card(session, card.id)
    except esim_install.EsimNotIssued:
        esim = None
    response = render(
        view,
        "esim.html",
        esim=esim,
        state_label=view._(ESIM_STATE_LABELS[esim.install_state]) if esim else "",
        qr_svg=esim_install.qr_svg(esim.code).decode() if esim else "",
        platform=device_platform(user_agent),
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


# -- recharge ---------------------------------------------------------------------------------------
def recharge_page(
    session: Session, view: View, card: Card | None, *, values: dict[str, str], errors: dict[str, str]
) -> HTMLResponse:
    assert card is not None
    currency = values.get("currency") or recharge.default_currency(view.language)
    if currency not in recharge.CURRENCIES:
        currency = recharge.default_currency(view.language)
    methods = recharge.payment_methods(currency)
    chosen = {"currency": currency, "payment_method": methods[0][0] if len(methods) == 1 else "", **values}
    chosen["currency"] = currency
    return render(
        view,
        "recharge.html",
        card=card,
        sections=recharge.offers(session, card, currency, view.language),
        currencies=recharge.CURRENCIES,
        methods=methods,
        elsewhere=recharge.methods_elsewhere(currency),
        values=chosen,
        errors=errors,
    )


def recharge_card_page(
    session: Session, view: View, card: Card | None, *, values: dict[str, str], errors: dict[str, str]
) -> HTMLResponse:
    """The recharge card tab: one PIN field. The PIN is never sent back into the page."""
    assert card is not None
    return render(view, "recharge_card.html", card=card, errors=errors, digits=PIN_DIGITS)


def review_page(view: View, card: Card, review: recharge.Review) -> HTMLResponse:
    product = review.quote.product
    promoted = promotion_labels.lines(review.quote.promotions, view.language)
    listed = review.quote.list_price
    return render(
        view,
        "review.html",
        card=card,
        review=review,
        name=product_name(product, view.language),
        credited=[view.amount(g["asset"], int(g["amount"])) for g in review.quote.grants],
        price=review.quote.price.format(view.language),
        list_price=listed.format(view.language) if listed is not None else "",
        discounts=[line for line in promoted if line.kind == "discount"],
        bonuses=[line for line in promoted if line.kind == "bonus"],
        promo_errors={"promo_code": review.promo_error} if review.promo_error else {},
        method=dict(recharge.payment_methods()).get(review.payment_method, review.payment_method),
        coverage=view.countries(product.coverage) if product.coverage else "",
    )


# -- one recharge -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TopupState:
    """What the status page and its JSON twin say about an order right now."""

    status: str
    label: str
    note: str
    final: bool
    fulfilled: bool
    slow: bool
    balance: str | None
    checkout_url: str | None


def topup_state(
    session: Session, view: View, card: Card, order: TopupOrder, payment: Payment | None
) -> TopupState:
    status = order.status
    fulfilled = status == TopupStatus.FULFILLED.value
    balance = card_service.overview(session, card).balance.format(view.language) if fulfilled else None
    since = order.paid_at or order.created_at
    slow = status in (TopupStatus.PAID.value, TopupStatus.UNKNOWN.value) and clock.now() - since > SLOW_AFTER
    notes = {
        TopupStatus.PENDING_PAYMENT.value: lazy(
            "Waiting for your payment. If you have just paid, this page updates by itself."
        ),
        TopupStatus.UNKNOWN.value: lazy("We are confirming your payment with the payment provider."),
        TopupStatus.PAID.value: lazy("Payment received. Adding it to your card…"),
        TopupStatus.FULFILLED.value: lazy("Done. Your recharge has been added to your card."),
        TopupStatus.FAILED.value: lazy("The payment did not go through. No money was taken for this order."),
        TopupStatus.EXPIRED.value: lazy("This order was not paid in time and has been closed."),
    }
    awaiting = (
        payment is not None
        and payment.status == PaymentStatus.PENDING.value
        and status == TopupStatus.PENDING_PAYMENT.value
    )
    open_checkout = None
    if awaiting and payment is not None:
        open_checkout = f"/topups/{order.id}/pay" if payment.qr_code else payment.checkout_url
    return TopupState(
        status=status,
        label=status_label(status, view.language),
        note=view._(notes[status]),
        final=status in FINAL,
        fulfilled=fulfilled,
        slow=slow,
        balance=balance,
        checkout_url=open_checkout,
    )


def topup_page(
    session: Session, view: View, card: Card, order_id: str, *, again: bool = False
) -> HTMLResponse:
    order, payment = read.get_topup(session, card, order_id)
    return render(
        view,
        "topup.html",
        order=order,
        state=topup_state(session, view, card, order, payment),
        name=order.product_name_zh if view.language == "zh-CN" else order.product_name_en,
        price=view.money(order.price_amount, order.price_currency),
        credited=[view.amount(g["asset"], int(g["amount"])) for g in order.grants],
        promotions=promotion_labels.lines(order.promotions, view.language),
        again=again,
    )


PROVIDER_INSTRUCTIONS = {
    "alipay": lazy("Open Alipay, tap Scan, and scan this code."),
    "wechat_pay": lazy("Open WeChat, tap Scan, and scan this code."),
}


def qr_page(session: Session, view: View, card: Card, order_id: str) -> HTMLResponse | None:
    """The payment's QR code while it can be paid; None once the order has moved on (paid, unknown,
    closed), so the caller goes to the status page."""
    order, payment = read.get_topup(session, card, order_id)
    if (
        payment is None
        or not payment.qr_code
        or payment.status != PaymentStatus.PENDING.value
        or order.status != TopupStatus.PENDING_PAYMENT.value
    ):
        return None
    own_page = payment.checkout_url is None or payment.checkout_url.startswith(
        f"{get_settings().public_base_url}/pay/"
    )
    method = view._(recharge.METHOD_LABELS.get(order.payment_method, order.payment_method))
    price = view.money(order.price_amount, order.price_currency)
    instructions = PROVIDER_INSTRUCTIONS.get(payment.provider)
    return render(
        view,
        "pay_qr.html",
        order=order,
        state=topup_state(session, view, card, order, payment),
        name=order.product_name_zh if view.language == "zh-CN" else order.product_name_en,
        price=price,
        method=method,
        qr=Markup(qr.svg(payment.qr_code)),  # noqa: S704 (segno's own SVG of the gateway's text)
        instructions=view._(instructions) if instructions else "",
        gateway_url=None if own_page else payment.checkout_url,
    )


def topup_json(session: Session, view: View, card: Card, order_id: str) -> dict[str, Any]:
    order, payment = read.get_topup(session, card, order_id)
    state = topup_state(session, view, card, order, payment)
    return {
        "id": order.id,
        "status": state.status,
        "label": state.label,
        "note": state.note,
        "final": state.final,
        "fulfilled": state.fulfilled,
        "slow": state.slow,
        "balance": state.balance,
    }


# -- history ----------------------------------------------------------------------------------------
def history_page(session: Session, view: View, card: Card, query: HistoryQuery) -> HTMLResponse:
    page = (
        topup_history.search(session, card, query.filters, limit=20, cursor=query.cursor)
        if query.valid
        else None
    )
    rows = [
        {
            "order": order,
            "name": order.product_name_zh if view.language == "zh-CN" else order.product_name_en,
            "price": view.money(order.price_amount, order.price_currency),
            "status": status_label(order.status, view.language),
            "promotions": promotion_labels.lines(order.promotions, view.language),
        }
        for order, _payment in (page.items if page else [])
    ]
    return render(
        view,
        "history.html",
        rows=rows,
        next_cursor=page.next_cursor if page else None,
        query=query,
        statuses=[(value, status_label(value, view.language)) for value in STATUS_CHOICES],
        status_code=200 if query.valid else 422,
    )


def receipt_page(session: Session, view: View, card: Card, order_id: str) -> HTMLResponse:
    order, payment = read.get_topup(session, card, order_id)
    receipt = receipts.build(session, card, order, payment, time_zone=view.timezone)
    return render(view, "receipt.html", order=order, receipt=receipt)


def receipt_pdf(session: Session, view: View, card: Card, order_id: str) -> bytes:
    order, payment = read.get_topup(session, card, order_id)
    return receipts.render_pdf(receipts.build(session, card, order, payment, time_zone=view.timezone))


# -- settings ---------------------------------------------------------------------------------------
def settings_page(
    session: Session,
    view: View,
    card: Card | None,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    notice: str | None = None,
) -> HTMLResponse:
    assert card is not None
    zones = list(TIMEZONES) if view.timezone in TIMEZONES else [view.timezone, *TIMEZONES]
    return render(
        view,
        "settings.html",
        alerts=card_settings.alert_preferences(session, card.id),
        card=card,
        phone=numbers.mask_phone(card.phone),
        pending=card_settings.pending_phone_change(session, card),
        values=values,
        errors=errors,
        notice=notice,
        timezones=zones,
    )


def close_card_page(
    session: Session, view: View, card: Card | None, *, values: dict[str, str], errors: dict[str, str]
) -> HTMLResponse:
    """Closing the card: what would be refunded (the refund policy) and what would be lost."""
    assert card is not None
    refunds = card_closure.refundable_now(session, card)
    overview = card_service.overview(session, card)
    refunded = sum(m.amount for _o, m in refunds if m.currency == overview.balance.currency)
    return render(
        view,
        "close_card.html",
        card=card,
        refunds=[(order.id, money.format(view.language)) for order, money in refunds],
        balance=overview.balance.format(view.language),
        values=values,
        errors=errors,
        closable=card.status in RECHARGEABLE,
        refunded_any=refunded > 0,
    )


def phone_code_page(
    session: Session, view: View, card: Card | None, *, values: dict[str, str], errors: dict[str, str]
) -> HTMLResponse:
    assert card is not None
    pending = card_settings.pending_phone_change(session, card)
    return render(
        view,
        "phone_code.html",
        pending=pending,
        new_phone=numbers.mask_phone(pending.new_phone) if pending else "",
        values=values,
        errors=errors,
        digits=card_settings.CODE_DIGITS,
    )


def demo_sms_page(session: Session, view: View, card: Card) -> HTMLResponse:
    messages = [
        {
            "to": numbers.display_phone(n.phone),
            "body": notification_service.readable_text(n),
            "parts": n.parts,
            "status": n.status,
            "at": n.created_at,
        }
        for n in notification_repository.list_for_card(session, card.id)
    ]
    return render(view, "demo_sms.html", messages=messages)


# -- self-service password reset (issue 10) ----------------------------------------------------------
def password_reset_page(
    session: Session, view: View, card: Card | None, *, values: dict[str, str], errors: dict[str, str]
) -> HTMLResponse:
    """Step one (the card number) until a request was made; then step two (code and new password)."""
    return render(
        view,
        "password_reset.html",
        values=values,
        errors=errors,
        step="code" if values.get("step") == "code" else "card",
        digits=card_password_reset.CODE_DIGITS,
        minutes=int(card_password_reset.CODE_VALIDITY.total_seconds() // 60),
    )
