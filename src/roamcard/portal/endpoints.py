"""The portal's pages and forms. Each handler: parse, one service call, render or redirect."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from roamcard.auth import service as auth_service
from roamcard.card import closure as card_closure
from roamcard.card import password_reset as card_password_reset
from roamcard.card import settings as card_settings
from roamcard.db import get_database
from roamcard.deps import ClientIP, ReadSessionDep, SessionDep
from roamcard.errors import AppError, NotFound
from roamcard.payment.client import client_context
from roamcard.portal import forms, pages, recharge, security
from roamcard.portal import usage as portal_usage
from roamcard.portal.history import export_csv, parse_query
from roamcard.portal.routing import (
    ActiveSignedIn,
    ActiveSignedInForUpdate,
    FormDep,
    MaybeSignedIn,
    PortalRoute,
    SignedInDep,
    ViewDep,
    demo_only,
    error_page,
)
from roamcard.portal.views import STATIC
from roamcard.responses import OrjsonResponse
from roamcard.topup.states import Channel
from roamcard.voucher import service as voucher_service

router = APIRouter(route_class=PortalRoute, include_in_schema=False)
static_router = APIRouter(include_in_schema=False)

STATIC_FILES = {"portal.css": "text/css", "portal.js": "text/javascript", "favicon.svg": "image/svg+xml"}


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# -- landing, sign-in, language -----------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
def landing(request: Request, card: MaybeSignedIn, view: ViewDep, session: ReadSessionDep) -> Response:
    values = {"next": security.safe_next(request.query_params.get("next"))}
    ended = request.query_params.get("ended") == "1" and card is None
    errors = {"form": view._("Your session has ended. Sign in again.")} if ended else {}
    if request.query_params.get("closed") == "1" and card is None:
        errors = {"form": view._("Your card is closed. Thank you for travelling with Roamcard.")}
    if request.query_params.get("reset") == "1" and card is None:
        errors = {"form": view._("Your service password has been reset. Sign in with the new one.")}
    return pages.landing(session, view, card, values=values, errors=errors)


@router.post("/login")
@error_page(pages.landing)
def login(form: FormDep, ip: ClientIP) -> Response:
    login = forms.parse(forms.LoginForm, form)
    issued = auth_service.login(
        get_database(), card_number=login.card_number, password=login.password, client_ip=ip
    )
    response = see_other(security.safe_next(login.next))
    security.start_session(response, issued.token)
    return response


@router.post("/logout")
@error_page(pages.landing)
def logout(request: Request, form: FormDep, session: SessionDep) -> Response:
    token = request.cookies.get(security.SESSION_COOKIE)
    if token:
        auth_service.logout(session, token)
    response = see_other("/")
    security.end_session(response)
    return response


@router.post("/language")
@error_page(pages.landing)
def choose_language(request: Request, form: FormDep, session: SessionDep) -> Response:
    """The user's pick beats Accept-Language from now on; for a signed-in card it is also the SMS language."""
    choice = forms.parse(forms.LanguageForm, form)
    token = request.cookies.get(security.SESSION_COOKIE)
    card = auth_service.card_for_token(session, token) if token else None
    if card is not None:
        card_settings.set_language(session, card, choice.language)
    response = see_other(security.safe_next(choice.next, "/"))
    security.set_cookie(response, security.LANGUAGE_COOKIE, choice.language, max_age=security.YEAR_SECONDS)
    return response


# -- account ----------------------------------------------------------------------------------------
@router.get("/account", response_class=HTMLResponse)
def dashboard(signed: SignedInDep, view: ViewDep, session: ReadSessionDep) -> Response:
    return pages.dashboard(session, view, signed.card)


@router.get("/usage", response_class=HTMLResponse)
def usage(request: Request, signed: SignedInDep, view: ViewDep, session: ReadSessionDep) -> Response:
    """Usage per day and kind with what paid for it (any card status: a suspended card may still look)."""
    params = {k: v for k, v in request.query_params.items() if k in ("from", "to")}
    return portal_usage.usage_page(session, view, signed.card, params)


@router.get("/esim", response_class=HTMLResponse)
def esim_install(request: Request, signed: SignedInDep, view: ViewDep, session: ReadSessionDep) -> Response:
    return pages.esim_page(session, view, signed.card, user_agent=request.headers.get("user-agent", ""))


@router.get("/recharge", response_class=HTMLResponse)
def recharge_page(request: Request, signed: SignedInDep, view: ViewDep, session: ReadSessionDep) -> Response:
    values = {k: v for k, v in request.query_params.items() if k in ("currency", "product_id")}
    return pages.recharge_page(session, view, signed.card, values=values, errors={})


@router.post("/recharge/review", response_class=HTMLResponse)
@error_page(pages.recharge_page)
def review(
    signed: ActiveSignedIn, form: FormDep, view: ViewDep, session: ReadSessionDep, ip: ClientIP
) -> Response:
    """The confirmation step: the price quoted (and kept), with the promo code typed, if any."""
    choice = forms.parse(forms.RechargeChoice, form)
    reviewed = recharge.review(get_database(), session, signed.card, choice, client_ip=ip)
    return pages.review_page(view, signed.card, reviewed)


@router.post("/recharge/confirm")
@error_page(pages.recharge_page)
def confirm(request: Request, signed: ActiveSignedIn, form: FormDep) -> Response:
    """Place the order (the gateway is called with no transaction open), then: a QR code to scan on a
    desktop, the gateway's page on a phone or for cards, the status page when the outcome is not known yet
    ("confirming payment") or when the form was sent before."""
    confirmed = forms.parse(forms.RechargeConfirm, form)
    started = recharge.start(get_database(), signed.card, confirmed, client_context(request))
    if started.replayed or (started.checkout_url is None and not started.qr):
        query = "?again=1" if started.replayed else ""
        return see_other(f"/topups/{started.order_id}{query}")
    if started.qr:
        return see_other(f"/topups/{started.order_id}/pay")
    assert started.checkout_url is not None
    return see_other(started.checkout_url)


@router.get("/topups/{order_id}/pay", response_class=HTMLResponse)
def pay_by_qr(order_id: str, signed: SignedInDep, view: ViewDep, session: ReadSessionDep) -> Response:
    """The QR code to scan with Alipay or WeChat; once the order moves on, its status page."""
    page = pages.qr_page(session, view, signed.card, order_id)
    return page if page is not None else see_other(f"/topups/{order_id}")


@router.get("/recharge/card", response_class=HTMLResponse)
def recharge_card_page(signed: SignedInDep, view: ViewDep, session: ReadSessionDep) -> Response:
    return pages.recharge_card_page(session, view, signed.card, values={}, errors={})


@router.post("/recharge/card")
@error_page(pages.recharge_card_page)
def redeem_card(
    signed: ActiveSignedInForUpdate, form: FormDep, session: SessionDep, ip: ClientIP
) -> Response:
    """A recharge card's PIN: the order is paid by the card and fulfilled at once. Every error (each one a
    recorded attempt, committed) is shown next to the PIN field; the PIN itself is never shown again."""
    pin = forms.parse(forms.VoucherForm, form).pin
    try:
        order = voucher_service.redeem(session, signed.card, pin, channel=Channel.WEB, client_key=ip)
    except AppError as error:
        placed = forms.on_field(error, "pin")
        if placed is error:
            raise
        raise placed from error
    return see_other(f"/topups/{order.id}")


@router.get("/topups/{order_id}", response_class=HTMLResponse)
def topup_status(
    request: Request, order_id: str, signed: SignedInDep, view: ViewDep, session: ReadSessionDep
) -> Response:
    again = request.query_params.get("again") == "1"
    return pages.topup_page(session, view, signed.card, order_id, again=again)


@router.get("/topups/{order_id}/status.json")
def topup_status_json(order_id: str, signed: SignedInDep, view: ViewDep, session: ReadSessionDep) -> Response:
    return OrjsonResponse(pages.topup_json(session, view, signed.card, order_id))


@router.get("/topups/{order_id}/receipt", response_class=HTMLResponse)
def receipt(order_id: str, signed: SignedInDep, view: ViewDep, session: ReadSessionDep) -> Response:
    return pages.receipt_page(session, view, signed.card, order_id)


@router.get("/topups/{order_id}/receipt.pdf")
def receipt_pdf(order_id: str, signed: SignedInDep, view: ViewDep, session: ReadSessionDep) -> Response:
    pdf = pages.receipt_pdf(session, view, signed.card, order_id)
    disposition = f'attachment; filename="roamcard-receipt-{order_id}.pdf"'
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": disposition})


@router.get("/history", response_class=HTMLResponse)
def history(request: Request, signed: SignedInDep, view: ViewDep, session: ReadSessionDep) -> Response:
    query = parse_query(dict(request.query_params), view.timezone)
    return pages.history_page(session, view, signed.card, query)


@router.get("/history.csv")
def history_csv(request: Request, signed: SignedInDep, view: ViewDep, session: ReadSessionDep) -> Response:
    query = parse_query(dict(request.query_params), view.timezone)
    if not query.valid:
        return see_other("/history?" + urlencode(query.as_params()))
    return Response(
        export_csv(session, view, signed.card, query),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="roamcard-recharges.csv"'},
    )


# -- settings ---------------------------------------------------------------------------------------
@router.get("/settings", response_class=HTMLResponse)
def settings(request: Request, signed: SignedInDep, view: ViewDep, session: ReadSessionDep) -> Response:
    notices = {
        "password": view._("Your service password has been changed."),
        "phone": view._("Your bound phone number has been changed."),
        "timezone": view._("Times are now shown in your chosen time zone."),
        "language": view._("Language saved."),
        "alerts": view._("Your alert choices are saved."),
    }
    notice = notices.get(request.query_params.get("saved", ""))
    return pages.settings_page(session, view, signed.card, values={}, errors={}, notice=notice)


@router.post("/settings/password")
@error_page(pages.settings_page)
def change_password(signed: ActiveSignedIn, form: FormDep) -> Response:
    change = forms.parse(forms.PasswordForm, form)
    if change.new_password != change.confirm_password:
        raise forms.FormInvalid(
            {"confirm_password": forms.gettext("The two new passwords are not the same.")}
        )
    card_settings.change_password(
        get_database(),
        signed.card,
        current_password=change.current_password,
        new_password=change.new_password,
        keep_token=signed.token,
    )
    return see_other("/settings?saved=password")


@router.post("/settings/phone")
@error_page(pages.settings_page)
def start_phone_change(signed: ActiveSignedIn, form: FormDep) -> Response:
    change = forms.parse(forms.PhoneForm, form)
    try:
        card_settings.start_phone_change(
            get_database(), signed.card, new_phone=change.phone, current_password=change.password
        )
    except card_settings.WrongCurrentPassword as error:
        raise forms.FormInvalid({"password": error.detail()}) from error
    return see_other("/settings/phone")


@router.get("/settings/phone", response_class=HTMLResponse)
def phone_code(signed: SignedInDep, view: ViewDep, session: ReadSessionDep) -> Response:
    return pages.phone_code_page(session, view, signed.card, values={}, errors={})


@router.post("/settings/phone/confirm")
@error_page(pages.phone_code_page)
def confirm_phone_change(signed: ActiveSignedInForUpdate, form: FormDep, session: SessionDep) -> Response:
    card_settings.confirm_phone_change(session, signed.card, code=forms.parse(forms.CodeForm, form).code)
    return see_other("/settings?saved=phone")


@router.post("/settings/alerts")
@error_page(pages.settings_page)
def choose_alerts(signed: ActiveSignedIn, form: FormDep, session: SessionDep) -> Response:
    """The optional alerts: a ticked box is on, an unticked one off (emergency messages have no switch)."""
    chosen = forms.parse(forms.AlertsForm, form)
    card_settings.set_alert_preferences(
        session,
        signed.card.id,
        card_settings.AlertPreferences(
            pack_usage=chosen.pack_usage,
            low_balance=chosen.low_balance,
            pack_expiry=chosen.pack_expiry,
            new_country=chosen.new_country,
        ),
    )
    return see_other("/settings?saved=alerts")


@router.post("/settings/timezone")
@error_page(pages.settings_page)
def choose_timezone(signed: SignedInDep, form: FormDep) -> Response:
    zone = forms.parse(forms.TimezoneForm, form).timezone
    response = see_other("/settings?saved=timezone")
    # Not HttpOnly: portal.js reads it to know the user chose a zone.
    security.set_cookie(
        response, security.TIMEZONE_COOKIE, zone, max_age=security.YEAR_SECONDS, http_only=False
    )
    return response


@router.get("/settings/close", response_class=HTMLResponse)
def close_card(signed: SignedInDep, view: ViewDep, session: ReadSessionDep) -> Response:
    return pages.close_card_page(session, view, signed.card, values={}, errors={})


@router.post("/settings/close")
@error_page(pages.close_card_page)
def confirm_close_card(signed: ActiveSignedIn, form: FormDep, ip: ClientIP) -> Response:
    """The holder confirmed with the box and their service password: refunds, breakage, closed, signed out."""
    asked = forms.parse(forms.CloseCardForm, form)
    database = get_database()
    try:
        card_settings.check_current_password(database, signed.card, asked.current_password)
    except card_settings.WrongCurrentPassword as error:
        raise forms.FormInvalid({"current_password": error.detail()}) from error
    card_closure.close_card_by_id(database, signed.card.id, client_ip=ip)
    response = see_other("/?closed=1")
    security.end_session(response)
    return response


# -- self-service password reset ("忘记密码") ---------------------------------------------------------
@router.get("/password-reset", response_class=HTMLResponse)
def password_reset(view: ViewDep, session: ReadSessionDep) -> Response:
    return pages.password_reset_page(session, view, None, values={}, errors={})


@router.post("/password-reset", response_class=HTMLResponse)
@error_page(pages.password_reset_page)
def request_password_reset(form: FormDep, view: ViewDep, session: SessionDep, ip: ClientIP) -> Response:
    asked = forms.parse(forms.ResetRequestForm, form)
    card_password_reset.request_reset(session, card_number=asked.card_number, client_ip=ip)
    # The same next page whether or not the card exists.
    return pages.password_reset_page(
        session, view, None, values={"card_number": asked.card_number, "step": "code"}, errors={}
    )


@router.post("/password-reset/confirm")
@error_page(pages.password_reset_page)
def confirm_password_reset(form: FormDep, session: SessionDep, ip: ClientIP) -> Response:
    reset = forms.parse(forms.ResetConfirmForm, {**form, "step": "code"})
    card_password_reset.confirm_reset(
        session, card_number=reset.card_number, code=reset.code, new_password=reset.new_password, client_ip=ip
    )
    return see_other("/?reset=1")


# -- demo mode --------------------------------------------------------------------------------------
@router.get("/demo/sms", response_class=HTMLResponse, dependencies=[Depends(demo_only)])
def demo_sms(signed: SignedInDep, view: ViewDep, session: ReadSessionDep) -> Response:
    return pages.demo_sms_page(session, view, signed.card)


# -- assets -----------------------------------------------------------------------------------------
@static_router.get("/static/{name}")
def static_file(name: Annotated[str, "file name"]) -> Response:
    if name not in STATIC_FILES:
        raise NotFound()
    return FileResponse(
        STATIC / name,
        media_type=STATIC_FILES[name],
        headers={"Cache-Control": "public, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff"},
    )
