"""Back-office pages of partners (/admin/partners): the partners, one partner's recent calls and callbacks
with their attempts, and "replay callback" for a dead one (audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from roamcard.backoffice import partner_service
from roamcard.backoffice.endpoints import BackOfficeRoute, CsrfChecked, Reason, Staff
from roamcard.backoffice.security import issue_csrf_token
from roamcard.backoffice.views import Page, render
from roamcard.deps import SessionDep
from roamcard.errors import AppError
from roamcard.i18n import lazy
from roamcard.staff.service import StaffContext, StaffForbidden

router = APIRouter(prefix="/admin/partners", route_class=BackOfficeRoute, include_in_schema=False)

REPLAYED = lazy("The callback was queued again.")


def _page(request: Request, context: StaffContext) -> Page:
    return Page(csrf_token=issue_csrf_token(request), staff=context.staff)


@router.get("")
def partners_page(request: Request, session: SessionDep, context: Staff) -> Response:
    found = partner_service.partners(session, context)
    return render(_page(request, context), "partners.html", partners=found)


def _partner_page(
    request: Request, session: SessionDep, context: StaffContext, public_id: str, *, notice: str = "",
    error: AppError | None = None,
) -> Response:  # fmt: skip
    page = _page(request, context)
    return render(
        page,
        "partner.html",
        status_code=error.status_code if error else 200,
        detail=partner_service.detail(session, context, public_id),
        notice=page._(REPLAYED) if notice == "replayed" else None,
        error=error.detail() if error else None,
    )


@router.get("/{public_id}")
def partner_page(
    request: Request,
    session: SessionDep,
    context: Staff,
    public_id: str,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    return _partner_page(request, session, context, public_id, notice=done)


@router.post("/{public_id}/callbacks/{callback_id}/replay", dependencies=[CsrfChecked])
def replay_callback(
    request: Request, session: SessionDep, context: Staff, public_id: str, callback_id: str, reason: Reason
) -> Response:
    try:
        partner_service.replay_callback(session, context, callback_id, reason)
    except AppError as error:
        if isinstance(error, StaffForbidden):
            raise
        return _partner_page(request, session, context, public_id, error=error)
    return RedirectResponse(f"/admin/partners/{public_id}?done=replayed", status_code=303)
