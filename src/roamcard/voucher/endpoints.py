from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from roamcard.deps import ActiveCard, ClientIP, SessionDep
from roamcard.topup.schemas import TopupOut
from roamcard.topup.states import Channel
from roamcard.voucher import service
from roamcard.voucher.schemas import VoucherRedeem

router = APIRouter(prefix="/api/v1", tags=["recharge cards"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Wrong PIN (one answer for every PIN that matches no recharge card)"},
    401: {"description": "Not signed in"},
    403: {"description": "The card is suspended (card_suspended)"},
    409: {"description": "Recharge card already used, blocked, expired, not activated, other currency"},
    422: {"description": "The PIN is not 16 digits"},
    429: {"description": "Too many wrong PINs for this card or this client; see Retry-After"},
}


@router.post(
    "/vouchers/redeem", status_code=status.HTTP_201_CREATED, response_model=TopupOut, responses=ERRORS
)
def redeem(body: VoucherRedeem, card: ActiveCard, session: SessionDep, client_ip: ClientIP) -> TopupOut:
    """Redeem a recharge card on the signed-in card: 201 with the fulfilled top-up order."""
    order = service.redeem(session, card, body.pin, channel=Channel.VOUCHER, client_key=client_ip)
    return TopupOut.of(order, None)
