from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, status
from fastapi.responses import Response

from roamcard.db import get_database
from roamcard.deps import BearerToken, ClientIP
from roamcard.idempotency import service as idempotency
from roamcard.responses import OrjsonResponse
from roamcard.topup.schemas import TopupOut
from roamcard.topup.service.create import NewOrder
from roamcard.voucher import service
from roamcard.voucher.schemas import VoucherRedeem

router = APIRouter(prefix="/api/v1", tags=["recharge cards"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Wrong PIN (one answer for every PIN that matches no recharge card)"},
    401: {"description": "Not signed in"},
    403: {"description": "The card is suspended (card_suspended)"},
    409: {
        "description": "Recharge card already used, blocked, expired, not activated, other currency; "
        "Idempotency-Key reused with another PIN"
    },
    422: {"description": "The PIN is not 16 digits"},
    429: {"description": "Too many wrong PINs for this card or this client; see Retry-After"},
}


@router.post(
    "/vouchers/redeem", status_code=status.HTTP_201_CREATED, response_model=TopupOut, responses=ERRORS
)
async def redeem(
    body: VoucherRedeem,
    request: Request,
    token: BearerToken,
    client_key: ClientIP,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """Redeem a recharge card on the signed-in card: 201 with the fulfilled top-up order. With an
    Idempotency-Key (recommended), a retry of a redemption that went through answers the same again."""
    key = idempotency.validate_key(idempotency_key) if idempotency_key is not None else None
    path = request.url.path
    database = get_database()

    def render(order: NewOrder) -> dict[str, Any]:
        return TopupOut.of(order, None).model_dump(mode="json")

    stored = await database.run(
        lambda: service.redeem_request(
            database, token, body.pin, key=key, path=path, render=render, client_key=client_key
        )
    )
    headers = {"Idempotent-Replayed": "true"} if stored.replayed else {}
    return OrjsonResponse(stored.body, status_code=stored.status_code, headers=headers)
