"""Card holders ask for refunds; staff decide them (a minimal API until the back office has its pages)."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, status
from fastapi.responses import JSONResponse, Response

from roamcard.config import get_settings
from roamcard.deps import ActiveCard, CurrentCard, ReadSessionDep, SessionDep
from roamcard.errors import AppError
from roamcard.idempotency import service as idempotency
from roamcard.kit.schemas import MoneyOut
from roamcard.refund import service
from roamcard.refund.schemas import RefundCreate, RefundDecision, RefundList, RefundOut, StaffRefundOut

router = APIRouter(prefix="/api/v1", tags=["refunds"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Missing or malformed Idempotency-Key"},
    401: {"description": "Not signed in"},
    403: {"description": "The card is suspended (card_suspended)"},
    404: {"description": "No such top-up"},
    409: {"description": "Nothing left to refund, or Idempotency-Key reused with a different body"},
    422: {"description": "Amount above what can be refunded, or a pack asked for in part"},
}


@router.post(
    "/topups/{topup_id}/refunds",
    status_code=status.HTTP_201_CREATED,
    response_model=RefundOut,
    responses=ERRORS,
)
def request_refund(
    topup_id: str,
    body: RefundCreate,
    request: Request,
    card: ActiveCard,
    session: SessionDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    def make() -> tuple[int, dict[str, object]]:
        refund = service.request_refund(session, card, topup_id, amount=body.amount, reason=body.reason)
        return status.HTTP_201_CREATED, RefundOut.of(refund).model_dump(mode="json")

    stored = idempotency.run_once(
        session,
        scope=f"card:{card.id}:refunds",
        key=idempotency.validate_key(idempotency_key),
        fingerprint=idempotency.request_fingerprint("POST", request.url.path, body.model_dump(mode="json")),
        create=make,
    )
    headers = {"Idempotent-Replayed": "true"} if stored.replayed else {}
    return JSONResponse(stored.body, status_code=stored.status_code, headers=headers)


@router.get("/topups/{topup_id}/refunds", response_model=RefundList, responses={404: ERRORS[404]})
def list_refunds(topup_id: str, card: CurrentCard, session: ReadSessionDep) -> RefundList:
    value = service.refundable(session, card, topup_id)
    return RefundList(
        refundable=MoneyOut(amount=value.amount, currency=value.currency),
        partial=value.partial,
        data=[RefundOut.of(r) for r in service.list_for_topup(session, card, topup_id)],
    )


# -- staff ----------------------------------------------------------------------------------------
class StaffOnly(AppError):
    status_code = 403
    code = "staff_only"
    message = "Only staff with the refunds token may do this."


staff_router = APIRouter(prefix="/api/v1/staff/refunds", tags=["staff: refunds"])
STAFF_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Missing or wrong staff token"},
    404: {"description": "No such refund"},
    409: {"description": "Already decided, or the value is no longer on the card"},
}


def _require_staff(authorization: str | None) -> None:
    token = get_settings().refunds_staff_token
    given = authorization[7:].strip() if authorization and authorization.lower().startswith("bearer ") else ""
    if token is None or not given or not hmac.compare_digest(given, token.get_secret_value()):
        raise StaffOnly()


StaffAuth = Annotated[str | None, Header(alias="Authorization")]


@staff_router.get("", response_model=list[StaffRefundOut], responses=STAFF_ERRORS)
def pending_refunds(session: ReadSessionDep, authorization: StaffAuth = None) -> list[StaffRefundOut]:
    _require_staff(authorization)
    return [StaffRefundOut.of(r) for r in service.list_pending(session)]


@staff_router.post("/{refund_id}/approve", response_model=StaffRefundOut, responses=STAFF_ERRORS)
def approve(
    refund_id: str, body: RefundDecision, session: SessionDep, authorization: StaffAuth = None
) -> StaffRefundOut:
    _require_staff(authorization)
    return StaffRefundOut.of(
        service.approve(session, refund_id, staff_ref=body.staff_ref, reason=body.reason)
    )


@staff_router.post("/{refund_id}/reject", response_model=StaffRefundOut, responses=STAFF_ERRORS)
def reject(
    refund_id: str, body: RefundDecision, session: SessionDep, authorization: StaffAuth = None
) -> StaffRefundOut:
    _require_staff(authorization)
    return StaffRefundOut.of(service.reject(session, refund_id, staff_ref=body.staff_ref, reason=body.reason))
