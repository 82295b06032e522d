"""Card holders ask for refunds and follow them; staff decide them in the back office (/admin), behind
roles, TOTP and the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, status
from fastapi.responses import Response

from roamcard.deps import ActiveCard, CurrentCard, ReadSessionDep, SessionDep
from roamcard.idempotency import service as idempotency
from roamcard.kit.schemas import MoneyOut
from roamcard.refund import service
from roamcard.refund.schemas import RefundCreate, RefundList, RefundOut
from roamcard.responses import OrjsonResponse

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
    return OrjsonResponse(stored.body, status_code=stored.status_code, headers=headers)


@router.get("/topups/{topup_id}/refunds", response_model=RefundList, responses={404: ERRORS[404]})
def list_refunds(topup_id: str, card: CurrentCard, session: ReadSessionDep) -> RefundList:
    value = service.refundable(session, card, topup_id)
    return RefundList(
        refundable=MoneyOut(amount=value.amount, currency=value.currency),
        partial=value.partial,
        data=[RefundOut.of(r) for r in service.list_for_topup(session, card, topup_id)],
    )
