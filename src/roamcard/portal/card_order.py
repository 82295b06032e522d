"""The portal's "Buy a travel card" flow (issue 13): choose a starter product, the phone for the SMS, the
language and how to pay; pay at the gateway; come back to the order page, which shows the progress until
the card is issued, then the card number, its own phone number, the service password once, and the way to
the install page.

Where the order token lives: in an HttpOnly, SameSite=Lax cookie (`rc_order`, "<order id>.<token>"), set
by the answer to the form's POST. It is never in a URL (so never in a gateway's return URL, a Referer, a
proxy's access log or the browser history) and never readable by script. Every gateway returns to
`/topups/<top-up order id>`; a browser that is not signed in but holds the cookie is sent on to
`/buy/order` (`routing._returns_to_card_order`; also when signed in with another card).

When the order page first shows the issued card, it also signs the buyer in on this browser (a new card
session, as a sign-in with the password would): holding the order token proves the purchase as well as the
password does, and a real operator leads straight on to the install page, which then works with every
signed-in route it already has (QR svg/png, manual fields). That happens once, with the one-time view of
the password; later visits sign in as usual. The order cookie is dropped then: it has done its work."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field
from sqlalchemy.orm import Session

from roamcard.auth import service as auth_service
from roamcard.card_order import service as card_orders
from roamcard.card_order.service import CardOrderView, PlacedOrder
from roamcard.card_order.states import CardOrderStatus
from roamcard.catalog import service as catalog
from roamcard.catalog.views import product_name
from roamcard.config import get_settings
from roamcard.db import get_database
from roamcard.deps import ReadSessionDep, SessionDep
from roamcard.errors import Unauthorized, ValidationFailed
from roamcard.i18n import lazy
from roamcard.idempotency import service as idempotency
from roamcard.kit.ids import new_id
from roamcard.models import Card
from roamcard.payment import qr
from roamcard.payment.client import client_context
from roamcard.portal import forms, recharge, security
from roamcard.portal.routing import FormDep, PortalRoute, ViewDep, error_page
from roamcard.portal.views import View, render
from roamcard.responses import OrjsonResponse
from roamcard.topup.labels import status_label

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

ORDER_COOKIE = "rc_order"
ORDER_COOKIE_MAX_AGE_SECONDS = 7 * 24 * 3600
FINAL = (
    CardOrderStatus.FULFILLED.value,
    CardOrderStatus.EXPIRED.value,
    CardOrderStatus.FAILED.value,
    CardOrderStatus.CANCELLED.value,
)
NOTES = {
    "pending_payment": lazy("Waiting for your payment. If you have just paid, this page updates by itself."),
    "unknown": lazy("We are confirming your payment with the payment provider."),
    "paid": lazy("Payment received. Issuing your travel card…"),
    "fulfilled": lazy("Your travel card is ready."),
    "expired": lazy("This order was not paid in time and has been closed. No money was taken."),
    "failed": lazy("The payment did not go through. No money was taken for this order."),
    "cancelled": lazy("This order was cancelled by customer service; its refund is on the way."),
}
LABELS = {"cancelled": lazy("Cancelled")}


class BuyForm(forms.Form):
    product_id: Annotated[str, Field(min_length=1, max_length=64)] = ""
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    payment_method: Annotated[str, Field(min_length=1, max_length=20)] = ""
    phone: Annotated[str, Field(min_length=4, max_length=20)] = ""
    language: Annotated[str, Field(pattern=r"^(zh-CN|en)$")] = "en"
    email: Annotated[str, Field(max_length=254, pattern=r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$")] = ""
    form_id: Annotated[str, Field(min_length=8, max_length=40)] = ""


# -- the order cookie ----------------------------------------------------------------------------------
def _held(request: Request) -> tuple[str, str] | None:
    order_id, _, token = (request.cookies.get(ORDER_COOKIE) or "").partition(".")
    return (order_id, token) if order_id.startswith("cor_") and token else None


# -- the buy page --------------------------------------------------------------------------------------
def buy_page(
    session: Session, view: View, card: Card | None, *, values: dict[str, str], errors: dict[str, str]
) -> HTMLResponse:
    currency = values.get("currency") or recharge.default_currency(view.language)
    if currency not in recharge.CURRENCIES:
        currency = recharge.default_currency(view.language)
    products = [
        (p, product_name(p, view.language), view.money(p.prices[currency], currency))
        for p in catalog.products_for_currency(session, currency, starter=True)
        if currency in p.prices
    ]
    return render(
        view,
        "buy.html",
        status_code=422 if errors else 200,
        values=values,
        errors=errors,
        currency=currency,
        currencies=recharge.CURRENCIES,
        products=products,
        methods=recharge.payment_methods(currency),
        form_id=new_id("frm", 24),
    )


@router.get("/buy", response_class=HTMLResponse)
def buy(request: Request, view: ViewDep, session: ReadSessionDep) -> Response:
    values = {k: v for k, v in request.query_params.items() if k in ("currency", "product_id")}
    values.setdefault("language", view.language)
    return buy_page(session, view, None, values=values, errors={})


def _render(placed: PlacedOrder) -> dict[str, object]:
    payment = placed.payment
    return {"id": placed.id, "checkout_url": payment.checkout_url, "qr": bool(payment.qr_code)}


@router.post("/buy")
@error_page(buy_page)
def place(request: Request, form: FormDep) -> Response:
    choice = forms.parse(BuyForm, form)
    if choice.payment_method not in dict(recharge.payment_methods(choice.currency)):
        raise ValidationFailed("payment_method", "This payment method is not available.")
    fields = choice.model_dump(exclude={"form_id"})
    fields["email"] = fields["email"] or None
    database = get_database()
    deadline = time.monotonic() + get_settings().gateway_timeout_seconds + 5
    while True:  # the same form sent again waits for the first, still at the gateway, then replays it
        try:
            stored = card_orders.place_card_order(
                database,
                key=choice.form_id,
                fingerprint=idempotency.request_fingerprint("POST", "/buy", fields),
                render=_render,
                client=client_context(request),
                **fields,
            )
            break
        except idempotency.IdempotencyKeyInFlight:
            if time.monotonic() > deadline:
                raise
            time.sleep(recharge.IN_FLIGHT_POLL_SECONDS)
    body = stored.body
    order_id = str(body["id"])
    checkout = body.get("checkout_url")
    target = "/buy/order" if body.get("qr") or not checkout else str(checkout)
    response = RedirectResponse(target, status_code=303)
    security.set_cookie(
        response,
        ORDER_COOKIE,
        f"{order_id}.{card_orders.order_token(order_id)}",
        max_age=ORDER_COOKIE_MAX_AGE_SECONDS,
    )
    return response


# -- the order page ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OrderState:
    status: str
    label: str
    note: str
    final: bool
    fulfilled: bool


def _state(view: View, order: CardOrderView) -> OrderState:
    status = order.status
    label = view._(LABELS[status]) if status in LABELS else status_label(status, view.language)
    return OrderState(status, label, view._(NOTES[status]), status in FINAL, status == "fulfilled")


def _order(request: Request, session: Session, *, reveal: bool) -> CardOrderView:
    held = _held(request)
    if held is None:
        raise card_orders.OrderTokenRefused()
    return card_orders.read(session, held[0], held[1], reveal=reveal)


@router.get("/buy/order", response_class=HTMLResponse)
def order_page(request: Request, view: ViewDep, session: SessionDep) -> Response:
    try:
        order = _order(request, session, reveal=True)
    except Unauthorized:
        return RedirectResponse("/account" if request.cookies.get(security.SESSION_COOKIE) else "/buy", 303)
    state = _state(view, order)
    payment = order.payment or {}
    waiting = order.status == "pending_payment" and payment.get("status") == "pending"
    qr_svg = qr.svg_data_uri(str(payment["qr_code"])) if waiting and payment.get("qr_code") else None
    signed_in = False
    if order.password is not None and order.card_id is not None:
        token = auth_service.open_session(session, order.card_id)
        signed_in = True
    response = render(
        view,
        "card_order.html",
        order=order,
        state=state,
        checkout_url=payment.get("checkout_url") if waiting and not qr_svg else None,
        qr_svg=qr_svg,
        signed_in_now=signed_in,
    )
    response.headers["Cache-Control"] = "private, no-store"
    if signed_in:
        security.start_session(response, token)
        security.clear_cookie(response, ORDER_COOKIE)
    return response


@router.get("/buy/order/status.json")
def order_status(request: Request, view: ViewDep, session: ReadSessionDep) -> Response:
    state = _state(view, _order(request, session, reveal=False))
    return OrjsonResponse(
        {"status": state.status, "final": state.final, "fulfilled": state.fulfilled},
        headers={"Cache-Control": "private, no-store"},
    )
