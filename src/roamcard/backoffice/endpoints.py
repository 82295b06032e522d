"""Routes of the back office (/admin). Each: check the session and role (dependencies), one service call,
a page or a redirect. Forms are CSRF-checked; errors come back as pages, not JSON."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.routing import APIRoute

from roamcard.audit import repository as audit_repository
from roamcard.audit import service as audit
from roamcard.backoffice import security
from roamcard.backoffice import service as console
from roamcard.backoffice.views import STYLESHEET, Page, render
from roamcard.card.numbers import mask_phone
from roamcard.card.states import CardStatus
from roamcard.db import get_database
from roamcard.deps import ClientIP, SessionDep
from roamcard.emergency import service as emergency_service
from roamcard.errors import AppError, ValidationFailed
from roamcard.esim.service import inventory as esim_inventory
from roamcard.esim.service import staff as esim_staff
from roamcard.i18n import gettext, lazy
from roamcard.models import Card, Refund
from roamcard.staff import service as staff_service
from roamcard.staff.roles import Permission
from roamcard.staff.service import (
    SecondFactorRequired,
    StaffContext,
    StaffSessionExpired,
    StaffSignInRequired,
)


class BackOfficeRoute(APIRoute):
    """Turns errors into pages: no session → the sign-in page, no second factor → the code page, anything
    else → an error page with the error's status. Every answer gets the back office's security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response = await handler(request)
            except StaffSessionExpired:
                response = RedirectResponse("/admin/login?expired=1", status_code=303)
                security.clear_cookie(response, security.SESSION_COOKIE)
            except StaffSignInRequired:
                response = RedirectResponse("/admin/login", status_code=303)
            except SecondFactorRequired:
                response = RedirectResponse("/admin/totp", status_code=303)
            except AppError as error:
                page = Page(csrf_token=security.issue_csrf_token(request))
                response = render(page, "error.html", status_code=error.status_code, error=error.detail())
            security.keep_browser_id(request, response)
            return security.harden(response)

        return handle


router = APIRouter(prefix="/admin", route_class=BackOfficeRoute, include_in_schema=False)


def _token(request: Request) -> str | None:
    return request.cookies.get(security.SESSION_COOKIE)


def _staff(request: Request, session: SessionDep, ip: ClientIP) -> StaffContext:
    return staff_service.load(session, _token(request), ip)


def _pending_staff(request: Request, session: SessionDep, ip: ClientIP) -> StaffContext:
    return staff_service.load(session, _token(request), ip, verified=False)


async def _csrf(request: Request) -> None:
    form = await request.form()
    token = form.get(security.CSRF_FIELD)
    security.verify_csrf_token(request, token if isinstance(token, str) else None)


Staff = Annotated[StaffContext, Depends(_staff)]
PendingStaff = Annotated[StaffContext, Depends(_pending_staff)]
CsrfChecked = Depends(_csrf)
Reason = Annotated[str, Form(max_length=2000)]
EXPIRED = lazy("Your back-office session has ended. Sign in again.")


def _page(request: Request, context: StaffContext | None = None) -> Page:
    return Page(csrf_token=security.issue_csrf_token(request), staff=context.staff if context else None)


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/static/admin.css")
def stylesheet() -> FileResponse:
    return FileResponse(STYLESHEET, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


# -- signing in ------------------------------------------------------------------------------------
@router.get("/login")
def login_page(request: Request, expired: bool = False) -> Response:
    page = _page(request)
    notice = page._(EXPIRED) if expired else None
    return render(page, "login.html", notice=notice)


@router.post("/login", dependencies=[CsrfChecked])
def login(
    request: Request,
    ip: ClientIP,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=200)],
) -> Response:
    try:
        issued = staff_service.sign_in(get_database(), email=email, password=password, client_ip=ip)
    except AppError as error:  # recorded outcomes (failure counter, audit) are already committed
        return render(_page(request), "login.html", status_code=error.status_code, error=error.detail())
    response = _see_other("/admin/totp" if issued.staff.totp_enrolled_at else "/admin/enrol")
    security.set_cookie(response, security.SESSION_COOKIE, issued.token)
    return response


@router.get("/totp")
def totp_page(request: Request, context: PendingStaff) -> Response:
    if context.session.verified_at is not None:
        return _see_other("/admin")
    if context.staff.totp_enrolled_at is None:
        return _see_other("/admin/enrol")
    return render(_page(request), "totp.html")


@router.post("/totp", dependencies=[CsrfChecked])
def totp(
    request: Request, session: SessionDep, context: PendingStaff, code: Annotated[str, Form(max_length=20)]
) -> Response:
    try:
        staff_service.verify_totp(session, context, code)
    except AppError as error:
        if not error.keeps_changes:
            raise
        return render(_page(request), "totp.html", status_code=error.status_code, error=error.detail())
    return _see_other("/admin")


@router.get("/enrol")
def enrol_page(request: Request, session: SessionDep, context: PendingStaff) -> Response:
    if context.staff.totp_enrolled_at is not None:
        return _see_other("/admin/totp")
    enrolment = staff_service.start_enrolment(session, context)
    return render(_page(request), "enrol.html", enrolment=enrolment, email=context.staff.email)


@router.post("/enrol", dependencies=[CsrfChecked])
def enrol(
    request: Request, session: SessionDep, context: PendingStaff, code: Annotated[str, Form(max_length=20)]
) -> Response:
    try:
        staff_service.confirm_enrolment(session, context, code)
    except AppError as error:
        if not error.keeps_changes:
            raise
        enrolment = staff_service.start_enrolment(session, context)
        return render(
            _page(request),
            "enrol.html",
            status_code=error.status_code,
            enrolment=enrolment,
            email=context.staff.email,
            error=error.detail(),
        )
    return _see_other("/admin")


@router.post("/logout", dependencies=[CsrfChecked])
def logout(session: SessionDep, context: PendingStaff) -> Response:
    staff_service.sign_out(session, context)
    response = _see_other("/admin/login")
    security.clear_cookie(response, security.SESSION_COOKIE)
    return response


# -- the console -------------------------------------------------------------------------------------
@router.get("")
def home(
    request: Request, session: SessionDep, context: Staff, q: Annotated[str, Query(max_length=40)] = ""
) -> Response:
    context.require(Permission.VIEW_CARD)
    low_stock = esim_inventory.low_stock(session)  # the banner while eSIM stock is short
    if not q.strip():
        return render(
            _page(request, context), "search.html", query="", results=None, esim_low_stock=low_stock
        )
    results = console.find_cards(session, q)
    if len(results) == 1:
        return _see_other(f"/admin/cards/{results[0].card_number}")
    return render(_page(request, context), "search.html", query=q, results=results, esim_low_stock=low_stock)


NOTICES = {
    "link": lazy("A payment link was sent by SMS to {phone}."),
    "voucher": lazy("The recharge card was redeemed."),
    "password": lazy("A new service password was sent by SMS to {phone}. Nobody else sees it."),
    "suspended": lazy("The card is suspended."),
    "unsuspended": lazy("The card is active again."),
    "receipt": lazy("The receipt was sent by SMS to {phone}."),
    "emergency": lazy("The emergency contacts were saved."),
}
REFUND_NOTICES = {
    "approved": lazy("The refund was approved."),
    "rejected": lazy("The refund was rejected."),
    "retried": lazy("The refund was sent to the gateway again."),
}


def _describe(error: AppError) -> str:
    """The error's words; for a field error, the field's own message."""
    cause = error.original if isinstance(error, console.ActionFailed) else error
    if isinstance(cause, ValidationFailed):
        return gettext(cause.field_message, None, **cause.field_params)
    return error.detail()


def _card_page(
    request: Request,
    session: SessionDep,
    context: StaffContext,
    card: Card,
    *,
    notice: str | None = None,
    error: AppError | None = None,
) -> Response:
    page = _page(request, context)
    file = console.card_file(session, context, card)
    return render(
        page,
        "card.html",
        status_code=error.status_code if error else 200,
        file=file,
        esim_profiles=esim_staff.profiles_of_card(session, card.id),
        emergency=emergency_service.emergency_card(session, card.id),
        sos_alerts=emergency_service.recent_sos(session, card.id),
        notice=page._(NOTICES[notice], phone=mask_phone(card.phone)) if notice in NOTICES else None,
        error=_describe(error) if error else None,
    )


@router.get("/cards/{card_number}")
def card_page(
    request: Request,
    session: SessionDep,
    context: Staff,
    card_number: str,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    context.require(Permission.VIEW_CARD)
    return _card_page(request, session, context, console.get_card(session, card_number), notice=done)


def act(
    request: Request,
    session: SessionDep,
    context: StaffContext,
    card_number: str,
    done: str,
    action: Callable[[Card], Any],
) -> Response:
    card = console.get_card(session, card_number)
    try:
        action(card)
    except console.ActionFailed as error:
        return _card_page(request, session, context, card, error=error)
    except AppError as error:
        if isinstance(error, staff_service.StaffForbidden):
            raise
        return _card_page(request, session, context, card, error=error)
    return _see_other(f"/admin/cards/{card.card_number}?done={done}")


@router.post("/cards/{card_number}/payment-link", dependencies=[CsrfChecked])
def payment_link(
    request: Request,
    session: SessionDep,
    context: Staff,
    card_number: str,
    product_id: Annotated[str, Form(max_length=64)],
    reason: Reason,
) -> Response:
    return act(
        request,
        session,
        context,
        card_number,
        "link",
        lambda card: console.send_link(session, context, card, product_id, reason),
    )


@router.post("/cards/{card_number}/voucher", dependencies=[CsrfChecked])
def voucher(
    request: Request,
    session: SessionDep,
    context: Staff,
    card_number: str,
    pin: Annotated[str, Form(max_length=64)],
    reason: Reason,
) -> Response:
    return act(
        request,
        session,
        context,
        card_number,
        "voucher",
        lambda card: console.redeem_voucher(session, context, card, pin, reason),
    )


@router.post("/cards/{card_number}/password-reset", dependencies=[CsrfChecked])
def password_reset(
    request: Request, session: SessionDep, context: Staff, card_number: str, reason: Reason
) -> Response:
    return act(
        request,
        session,
        context,
        card_number,
        "password",
        lambda card: console.reset_password(session, context, card, reason),
    )


@router.post("/cards/{card_number}/suspend", dependencies=[CsrfChecked])
def suspend(
    request: Request, session: SessionDep, context: Staff, card_number: str, reason: Reason
) -> Response:
    return act(
        request,
        session,
        context,
        card_number,
        "suspended",
        lambda card: console.set_status(session, context, card, CardStatus.SUSPENDED, reason),
    )


@router.post("/cards/{card_number}/unsuspend", dependencies=[CsrfChecked])
def unsuspend(
    request: Request, session: SessionDep, context: Staff, card_number: str, reason: Reason
) -> Response:
    return act(
        request,
        session,
        context,
        card_number,
        "unsuspended",
        lambda card: console.set_status(session, context, card, CardStatus.ACTIVE, reason),
    )


@router.post("/cards/{card_number}/orders/{order_id}/receipt", dependencies=[CsrfChecked])
def receipt(
    request: Request, session: SessionDep, context: Staff, card_number: str, order_id: str, reason: Reason
) -> Response:
    return act(
        request,
        session,
        context,
        card_number,
        "receipt",
        lambda card: console.resend_receipt(session, context, card, order_id, reason),
    )


# -- refunds (finance) -------------------------------------------------------------------------------
@router.get("/refunds")
def refunds_page(
    request: Request, session: SessionDep, context: Staff, done: Annotated[str, Query(max_length=20)] = ""
) -> Response:
    page = _page(request, context)
    notice = page._(REFUND_NOTICES[done]) if done in REFUND_NOTICES else None
    return _refunds_page(page, session, context, notice=notice)


def _refunds_page(
    page: Page,
    session: SessionDep,
    context: StaffContext,
    *,
    notice: str | None = None,
    error: AppError | None = None,
) -> Response:
    pending = console.pending_refunds(session, context)
    attention = console.refunds_needing_attention(session, context)
    return render(
        page,
        "refunds.html",
        status_code=error.status_code if error else 200,
        refunds=pending,
        attention=attention,
        cards=_cards_of(session, [*pending, *(item.refund for item in attention)]),
        problems={problem: page._(text) for problem, text in ATTENTION_PROBLEMS.items()},
        notice=notice,
        error=_describe(error) if error else None,
    )


ATTENTION_PROBLEMS = {
    "job_dead": lazy("Its gateway job stopped retrying; the value has left the card."),
    "late_payment_failed": lazy("The gateway refused to refund a late payment; the money is still with us."),
    "card_cancelled_unpaid": lazy(
        "A cancelled card's refund was refused or rejected: the card is closed and nothing was paid back."
    ),
}


def _cards_of(session: SessionDep, refunds: list[Refund]) -> dict[int, Card]:
    return {r.card_id: card for r in refunds if (card := session.get(Card, r.card_id)) is not None}


@router.post("/refunds/{refund_id}/decide", dependencies=[CsrfChecked])
def decide_refund(
    request: Request,
    session: SessionDep,
    context: Staff,
    refund_id: str,
    decision: Annotated[str, Form(pattern="^(approve|reject)$")],
    reason: Reason,
) -> Response:
    approve = decision == "approve"
    try:
        console.decide_refund(session, context, refund_id, approve=approve, reason=reason)
    except AppError as error:
        if isinstance(error, staff_service.StaffForbidden):
            raise
        return _refunds_page(_page(request, context), session, context, error=error)
    return _see_other("/admin/refunds?done=" + ("approved" if approve else "rejected"))


@router.post("/refunds/{refund_id}/retry", dependencies=[CsrfChecked])
def retry_refund(
    request: Request, session: SessionDep, context: Staff, refund_id: str, reason: Reason
) -> Response:
    try:
        console.retry_refund(session, context, refund_id, reason=reason)
    except AppError as error:
        if isinstance(error, staff_service.StaffForbidden):
            raise
        return _refunds_page(_page(request, context), session, context, error=error)
    return _see_other("/admin/refunds?done=retried")


# -- payments needing attention, chargebacks (finance) -------------------------------------------------
@router.get("/payments")
def payment_issues_page(request: Request, session: SessionDep, context: Staff) -> Response:
    issues = console.payment_issues(session, context)
    return render(_page(request, context), "payments.html", issues=issues)


def _disputes_page(
    request: Request,
    session: SessionDep,
    context: StaffContext,
    *,
    notice: str | None = None,
    error: AppError | None = None,
) -> Response:
    page = _page(request, context)
    found = console.disputes(session, context)
    cards = {d.card_id: card for d in found if (card := session.get(Card, d.card_id)) is not None}
    return render(
        page,
        "disputes.html",
        status_code=error.status_code if error else 200,
        disputes=found,
        cards=cards,
        notice=page._(DISPUTE_RELEASED) if notice == "released" else None,
        error=_describe(error) if error else None,
    )


DISPUTE_RELEASED = lazy("The top-up hold of this dispute was lifted.")


@router.get("/disputes")
def disputes_page(
    request: Request, session: SessionDep, context: Staff, done: Annotated[str, Query(max_length=20)] = ""
) -> Response:
    return _disputes_page(request, session, context, notice=done)


@router.post("/disputes/{dispute_id}/release", dependencies=[CsrfChecked])
def release_dispute_hold(
    request: Request, session: SessionDep, context: Staff, dispute_id: str, reason: Reason
) -> Response:
    try:
        console.release_dispute_hold(session, context, dispute_id, reason)
    except AppError as error:
        if isinstance(error, staff_service.StaffForbidden):
            raise
        return _disputes_page(request, session, context, error=error)
    return _see_other("/admin/disputes?done=released")


# -- audit log (supervisors) ---------------------------------------------------------------------------
def _day(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC) if text else None
    except ValueError:
        return None


@router.get("/audit")
def audit_page(
    request: Request,
    session: SessionDep,
    context: Staff,
    staff: Annotated[str, Query(max_length=254)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    card: Annotated[str, Query(max_length=40)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    context.require(Permission.VIEW_AUDIT)
    card_id: int | None = None
    if card.strip():
        found = console.find_cards(session, card)
        card_id = found[0].id if found else -1
    until_day = _day(until)
    filters = audit_repository.AuditFilter(
        staff_email=staff or None,
        action=action or None,
        card_id=card_id,
        since=_day(since),
        until=until_day + timedelta(days=1) if until_day else None,
    )
    page = audit.search(session, filters, before_id=before)
    return render(
        _page(request, context),
        "audit.html",
        entries=page.entries,
        next_before=page.next_before_id,
        actions=audit_repository.list_actions(session),
        filters={"staff": staff, "action": action, "card": card, "since": since, "until": until},
    )
