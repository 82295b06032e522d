"""Back-office staff accounts (/admin/staff), admin only (`manage_staff`): the accounts with their role,
two-step state and last sign-in; create one (a first password generated and shown once, on the answer
page only; the new member enrols an authenticator at first sign-in), change a role, reset a lost
authenticator (its sessions end; the next sign-in shows a new QR code once). The same service functions
as `roamcard staff …`; every action audited with a reason (`staff.created`, `staff.role_changed`,
`staff.totp_reset`, or `….failed`)."""

from __future__ import annotations

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
from roamcard.deps import SessionDep
from roamcard.errors import AppError, Conflict, NotFound, ValidationFailed
from roamcard.i18n import lazy
from roamcard.models import StaffMember
from roamcard.staff import repository as staff_repository
from roamcard.staff import service as staff_service
from roamcard.staff.roles import Permission, Role
from roamcard.staff.service import StaffContext, StaffForbidden

router = APIRouter(prefix="/admin", route_class=BackOfficeRoute, include_in_schema=False)

ROLE_LABELS = {
    Role.AGENT: lazy("Agent"),
    Role.SUPERVISOR: lazy("Supervisor"),
    Role.FINANCE: lazy("Finance"),
    Role.ADMIN: lazy("Admin"),
}
NOTICES = {
    "role": lazy("The role was changed. It applies from the account's next page."),
    "totp": lazy("Two-step verification was reset and the account's sessions ended. At the next sign-in "
                 "it enrols a new authenticator app."),
}  # fmt: skip


class StaffAccountNotFound(NotFound):
    code = "staff_account_not_found"
    message = "There is no such staff account."


class StaffEmailTaken(Conflict):
    code = "staff_email_taken"
    message = "This email already has a back-office account."


class OwnAccount(Conflict):
    code = "staff_own_account"
    message = "Ask another admin to change your own role or two-step verification."


def _member(session: Session, staff_id: int) -> StaffMember:
    member = session.get(StaffMember, staff_id)
    if member is None:
        raise StaffAccountNotFound()
    return member


def create(
    session: Session, context: StaffContext, email: str, role: str, reason: str
) -> tuple[StaffMember, str]:
    """The new account and its first password (returned once, never stored in clear or audited)."""
    context.require(Permission.MANAGE_STAFF)

    def run() -> tuple[tuple[StaffMember, str], dict[str, Any]]:
        try:
            address = staff_service.normalise_email(email)
        except staff_service.InvalidStaffAccount:
            raise ValidationFailed("email", "Enter a valid email address.") from None
        if role not in set(Role):
            raise ValidationFailed("role", "Choose one of the roles.")
        if staff_repository.get_by_email(session, address) is not None:
            raise StaffEmailTaken()
        password = staff_service.new_initial_password()
        member = staff_service.create_staff(session, email=address, role=role, password=password)
        return (member, password), {"email": member.email, "role": member.role}

    return console.audited(
        session, context, Permission.MANAGE_STAFF, "staff.created", target_type="staff",
        target_id=email.strip().lower()[:64], card=None, reason=reason, before=None, run=run,
    )  # fmt: skip


def change_role(
    session: Session, context: StaffContext, staff_id: int, role: str, reason: str
) -> StaffMember:
    context.require(Permission.MANAGE_STAFF)
    member = _member(session, staff_id)
    before = {"email": member.email, "role": member.role}

    def run() -> tuple[StaffMember, dict[str, Any]]:
        if member.id == context.staff.id:
            raise OwnAccount()
        if role not in set(Role):
            raise ValidationFailed("role", "Choose one of the roles.")
        changed = staff_service.change_role(session, member, role)
        return changed, {"email": changed.email, "role": changed.role}

    return console.audited(
        session, context, Permission.MANAGE_STAFF, "staff.role_changed", target_type="staff",
        target_id=str(member.id), card=None, reason=reason, before=before, run=run,
    )  # fmt: skip


def reset_totp(session: Session, context: StaffContext, staff_id: int, reason: str) -> StaffMember:
    context.require(Permission.MANAGE_STAFF)
    member = _member(session, staff_id)
    before = {"email": member.email, "totp_enrolled": member.totp_enrolled_at is not None}

    def run() -> tuple[StaffMember, dict[str, Any]]:
        if member.id == context.staff.id:
            raise OwnAccount()
        staff_service.reset_totp(session, member)
        return member, {"email": member.email, "totp_enrolled": False, "sessions": "revoked"}

    return console.audited(
        session, context, Permission.MANAGE_STAFF, "staff.totp_reset", target_type="staff",
        target_id=str(member.id), card=None, reason=reason, before=before, run=run,
    )  # fmt: skip


def _staff_page(
    request: Request,
    session: Session,
    context: StaffContext,
    *,
    notice: str = "",
    error: AppError | None = None,
    created: tuple[StaffMember, str] | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    context.require(Permission.MANAGE_STAFF)
    page = _page(request, context)
    return render(
        page,
        "staff.html",
        status_code=error.status_code if error else 200,
        members=staff_repository.list_all(session),
        roles={r.value: page._(label) for r, label in ROLE_LABELS.items()},
        created=created,
        form=form or {"email": "", "role": Role.AGENT.value},
        notice=page._(NOTICES[notice]) if notice in NOTICES else None,
        error=_describe(error) if error else None,
    )


@router.get("/staff")
def staff_page(
    request: Request, session: SessionDep, context: Staff, done: Annotated[str, Query(max_length=20)] = ""
) -> Response:
    return _staff_page(request, session, context, notice=done)


@router.post("/staff", dependencies=[CsrfChecked])
def create_staff(
    request: Request,
    session: SessionDep,
    context: Staff,
    email: Annotated[str, Form(max_length=254)],
    role: Annotated[str, Form(max_length=16)],
    reason: Reason,
) -> Response:
    try:
        created = create(session, context, email, role, reason)
    except AppError as error:
        if isinstance(error, StaffForbidden):
            raise
        return _staff_page(request, session, context, error=error, form={"email": email, "role": role})
    # Answered here, not redirected: the first password is on this page only, never in a URL or the log.
    return _staff_page(request, session, context, created=created)


def _act(request: Request, session: Session, context: StaffContext, done: str, action: Any) -> Response:
    try:
        action()
    except AppError as error:
        if isinstance(error, StaffForbidden | StaffAccountNotFound):
            raise
        return _staff_page(request, session, context, error=error)
    return _see_other(f"/admin/staff?done={done}")


@router.post("/staff/{staff_id}/role", dependencies=[CsrfChecked])
def staff_role(
    request: Request,
    session: SessionDep,
    context: Staff,
    staff_id: int,
    role: Annotated[str, Form(max_length=16)],
    reason: Reason,
) -> Response:
    return _act(
        request, session, context, "role", lambda: change_role(session, context, staff_id, role, reason)
    )


@router.post("/staff/{staff_id}/totp-reset", dependencies=[CsrfChecked])
def staff_totp_reset(
    request: Request, session: SessionDep, context: Staff, staff_id: int, reason: Reason
) -> Response:
    return _act(request, session, context, "totp", lambda: reset_totp(session, context, staff_id, reason))
