"""Back-office dealers (/admin/dealers): the dealers with status, commission and float balance. An admin
creates one (its POS key and secret shown once), suspends or resumes it (reseller.status.set_status,
which records the transition) and rotates its key (the new secret shown once, the old key refused at
once); finance credits its float with money received (a ledger transfer from `dealer_deposits` through
dealer.service.manage, keyed by the payment's reference, so a reference is credited once). Every action
has a reason and is audited (`dealer.created`, `dealer.credited`, `dealer.suspend`, `dealer.resume`,
`dealer.key_rotated`, or `….failed`); no secret is ever written to the audit log."""

from __future__ import annotations

from decimal import InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from sqlalchemy.orm import Session

from roamcard.backoffice import service as console
from roamcard.backoffice.endpoints import (
    BackOfficeRoute,
    CsrfChecked,
    Reason,
    Staff,
    _describe,
    _page,
    _see_other,
)
from roamcard.backoffice.views import render
from roamcard.dealer import repository as dealer_repository
from roamcard.dealer.service import manage
from roamcard.dealer.states import DealerStatus
from roamcard.deps import SessionDep
from roamcard.errors import AppError, Conflict, NotFound, ValidationFailed
from roamcard.i18n import lazy
from roamcard.kit.money import SUPPORTED_CURRENCIES, Money
from roamcard.models import Dealer
from roamcard.reseller import floats
from roamcard.staff.roles import Permission
from roamcard.staff.service import StaffContext, StaffForbidden

router = APIRouter(prefix="/admin", route_class=BackOfficeRoute, include_in_schema=False)

STATUS_LABELS = {DealerStatus.ACTIVE: lazy("Active"), DealerStatus.SUSPENDED: lazy("Suspended")}
NOTICES = {
    "credited": lazy("The float was credited."),
    "suspended": lazy("The dealer is suspended: its till's requests are refused. Its float stays."),
    "resumed": lazy("The dealer is active again."),
}


class DealerNotFound(NotFound):
    code = "dealer_not_found"
    message = "There is no such dealer."


class DealerReferenceReused(Conflict):
    code = "dealer_reference_reused"
    message = "This payment reference was already credited to this dealer with another amount."


class DealerStatusUnchanged(Conflict):
    code = "dealer_status_unchanged"
    message = "The dealer already has this status."


class DealerRefused(AppError):
    status_code = 422
    code = "dealer_refused"
    message = "This cannot be done: {problem}"


def _dealer(session: Session, public_id: str) -> Dealer:
    dealer = dealer_repository.get_by_public_id(session, public_id)
    if dealer is None:
        raise DealerNotFound()
    return dealer


def _facts(session: Session, dealer: Dealer) -> dict[str, Any]:
    return {
        "status": dealer.status,
        "float": manage.float_account(session, dealer).balance,
        "currency": dealer.currency,
        "api_key_id": dealer.api_key_id,
    }


# -- actions ---------------------------------------------------------------------------------------------
def create(
    session: Session, context: StaffContext, *, name: str, currency: str, commission_bps: str, reason: str
) -> manage.CreatedDealer:
    context.require(Permission.MANAGE_DEALERS)

    def run() -> tuple[manage.CreatedDealer, dict[str, Any]]:
        if not name.strip() or len(name.strip()) > 200:
            raise ValidationFailed("name", "Give the dealer's name (up to 200 characters).")
        if currency not in SUPPORTED_CURRENCIES:
            raise ValidationFailed("currency", "Choose the float's currency.")
        if not commission_bps.strip().isdecimal() or int(commission_bps) > manage.MAX_COMMISSION_BPS:
            raise ValidationFailed(
                "commission_bps", "The commission is 0 to {limit} basis points (500 = 5%).",
                limit=manage.MAX_COMMISSION_BPS,
            )  # fmt: skip
        try:
            made = manage.create_dealer(
                session, name=name, currency=currency, commission_bps=int(commission_bps)
            )
        except manage.DealerProblem as problem:
            raise DealerRefused(problem=str(problem)) from None
        return made, {
            "dealer_id": made.dealer.public_id,
            "name": made.dealer.name,
            **_facts(session, made.dealer),
        }

    return console.audited(
        session, context, Permission.MANAGE_DEALERS, "dealer.created", target_type="dealer",
        target_id=name.strip()[:64], card=None, reason=reason, before=None, run=run,
    )  # fmt: skip


def credit(
    session: Session, context: StaffContext, public_id: str, *, amount: str, reference: str, reason: str
) -> Money:
    context.require(Permission.CREDIT_DEALER_FLOAT)
    dealer = _dealer(session, public_id)
    before = _facts(session, dealer)

    def run() -> tuple[Money, dict[str, Any]]:
        try:
            money = Money.from_decimal_string(amount.strip(), dealer.currency)
        except (InvalidOperation, ValueError):
            raise ValidationFailed("amount", "Give the amount received, for example 100.00.") from None
        if money.amount <= 0:
            raise ValidationFailed("amount", "Give the amount received, for example 100.00.")
        try:
            balance = manage.credit_float(session, dealer, money.amount, reference=reference.strip() or None)
        except manage.DealerProblem as problem:
            if isinstance(problem.__cause__, floats.CreditReferenceReused):
                raise DealerReferenceReused() from None
            raise DealerRefused(problem=str(problem)) from None
        return balance, {**_facts(session, dealer), "credited": money.amount, "reference": reference.strip()}

    return console.audited(
        session, context, Permission.CREDIT_DEALER_FLOAT, "dealer.credited", target_type="dealer",
        target_id=public_id, card=None, reason=reason, before=before, run=run,
    )  # fmt: skip


def set_status(session: Session, context: StaffContext, public_id: str, action: str, reason: str) -> None:
    context.require(Permission.MANAGE_DEALERS)
    dealer = _dealer(session, public_id)
    target = DealerStatus.SUSPENDED if action == "suspend" else DealerStatus.ACTIVE
    before = _facts(session, dealer)

    def run() -> tuple[None, dict[str, Any]]:
        # The transition itself (history, and reseller.status's own `dealer.suspended` entry) is the
        # service's; this entry adds who in the back office asked, and why.
        if not manage.set_status(session, dealer, target, actor=f"staff:{context.staff.email}"):
            raise DealerStatusUnchanged()
        return None, _facts(session, dealer)

    verb = "suspend" if action == "suspend" else "resume"
    console.audited(
        session, context, Permission.MANAGE_DEALERS, f"dealer.{verb}",
        target_type="dealer", target_id=public_id, card=None, reason=reason, before=before, run=run,
    )  # fmt: skip


def rotate_key(session: Session, context: StaffContext, public_id: str, reason: str) -> manage.RotatedKey:
    context.require(Permission.MANAGE_DEALERS)
    dealer = _dealer(session, public_id)
    before = {"api_key_id": dealer.api_key_id}

    def run() -> tuple[manage.RotatedKey, dict[str, Any]]:
        rotated = manage.rotate_key(session, dealer)
        return rotated, {"api_key_id": rotated.api_key_id}

    return console.audited(
        session, context, Permission.MANAGE_DEALERS, "dealer.key_rotated", target_type="dealer",
        target_id=public_id, card=None, reason=reason, before=before, run=run,
    )  # fmt: skip


# -- pages -----------------------------------------------------------------------------------------------
def _labels(page: Any) -> dict[str, str]:
    return {s.value: page._(label) for s, label in STATUS_LABELS.items()}


def _dealers_page(
    request: Request,
    session: Session,
    context: StaffContext,
    *,
    error: AppError | None = None,
    created: manage.CreatedDealer | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    context.require(Permission.VIEW_DEALERS)
    page = _page(request, context)
    dealers = dealer_repository.list_all(session)
    return render(
        page,
        "dealers.html",
        status_code=error.status_code if error else 200,
        dealers=[(d, manage.float_account(session, d).balance) for d in dealers],
        statuses=_labels(page),
        currencies=SUPPORTED_CURRENCIES,
        created=created,
        form=form or {"name": "", "currency": SUPPORTED_CURRENCIES[0], "commission_bps": "500"},
        error=_describe(error) if error else None,
    )


def _dealer_page(
    request: Request,
    session: Session,
    context: StaffContext,
    public_id: str,
    *,
    notice: str = "",
    error: AppError | None = None,
    rotated: manage.RotatedKey | None = None,
) -> Response:
    context.require(Permission.VIEW_DEALERS)
    page = _page(request, context)
    dealer = _dealer(session, public_id)
    return render(
        page,
        "dealer.html",
        status_code=error.status_code if error else 200,
        dealer=dealer,
        balance=manage.float_account(session, dealer).balance,
        statuses=_labels(page),
        rotated=rotated,
        notice=page._(NOTICES[notice]) if notice in NOTICES else None,
        error=_describe(error) if error else None,
    )


@router.get("/dealers")
def dealers_page(request: Request, session: SessionDep, context: Staff) -> Response:
    return _dealers_page(request, session, context)


@router.post("/dealers", dependencies=[CsrfChecked])
def create_dealer(
    request: Request,
    session: SessionDep,
    context: Staff,
    name: Annotated[str, Form(max_length=200)],
    currency: Annotated[str, Form(max_length=3)],
    commission_bps: Annotated[str, Form(max_length=6)],
    reason: Reason,
) -> Response:
    form = {"name": name, "currency": currency, "commission_bps": commission_bps}
    try:
        made = create(
            session, context, name=name, currency=currency, commission_bps=commission_bps, reason=reason
        )
    except AppError as error:
        if isinstance(error, StaffForbidden):
            raise
        return _dealers_page(request, session, context, error=error, form=form)
    # Answered here, not redirected: the secret is on this page only.
    return _dealers_page(request, session, context, created=made)


@router.get("/dealers/{public_id}")
def dealer_page(
    request: Request,
    session: SessionDep,
    context: Staff,
    public_id: str,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    return _dealer_page(request, session, context, public_id, notice=done)


def _act(
    request: Request, session: Session, context: StaffContext, public_id: str, done: str, action: Any
) -> Response:
    try:
        action()
    except AppError as error:
        if isinstance(error, StaffForbidden | DealerNotFound):
            raise
        return _dealer_page(request, session, context, public_id, error=error)
    return _see_other(f"/admin/dealers/{public_id}?done={done}")


@router.post("/dealers/{public_id}/credit", dependencies=[CsrfChecked])
def credit_dealer(
    request: Request,
    session: SessionDep,
    context: Staff,
    public_id: str,
    amount: Annotated[str, Form(max_length=20)],
    reason: Reason,
    reference: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    return _act(
        request, session, context, public_id, "credited",
        lambda: credit(session, context, public_id, amount=amount, reference=reference, reason=reason),
    )  # fmt: skip


@router.post("/dealers/{public_id}/status", dependencies=[CsrfChecked])
def dealer_status(
    request: Request,
    session: SessionDep,
    context: Staff,
    public_id: str,
    action: Annotated[str, Form(pattern="^(suspend|resume)$")],
    reason: Reason,
) -> Response:
    done = "suspended" if action == "suspend" else "resumed"
    return _act(
        request,
        session,
        context,
        public_id,
        done,
        lambda: set_status(session, context, public_id, action, reason),
    )


@router.post("/dealers/{public_id}/rotate-key", dependencies=[CsrfChecked])
def rotate_dealer_key(
    request: Request, session: SessionDep, context: Staff, public_id: str, reason: Reason
) -> Response:
    try:
        rotated = rotate_key(session, context, public_id, reason)
    except AppError as error:
        if isinstance(error, StaffForbidden | DealerNotFound):
            raise
        return _dealer_page(request, session, context, public_id, error=error)
    return _dealer_page(request, session, context, public_id, rotated=rotated)
