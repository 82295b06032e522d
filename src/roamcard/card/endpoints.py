from __future__ import annotations

from fastapi import APIRouter, status

from roamcard.card import password_reset, service
from roamcard.card.schemas import CardOut, PasswordResetAccepted, PasswordResetConfirm, PasswordResetCreate
from roamcard.deps import ClientIP, CurrentCard, ReadSessionDep, SessionDep

router = APIRouter(prefix="/api/v1", tags=["card"])


@router.get("/card", response_model=CardOut, responses={401: {"description": "Not signed in"}})
def get_card(card: CurrentCard, session: ReadSessionDep) -> CardOut:
    return CardOut.of(service.overview(session, card))


@router.post(
    "/password-resets",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PasswordResetAccepted,
    responses={429: {"description": "Too many requests for this card number or from this address"}},
)
def request_password_reset(
    body: PasswordResetCreate, session: SessionDep, ip: ClientIP
) -> PasswordResetAccepted:
    """Send a code to the bound phone. The answer is the same whether or not the card exists."""
    password_reset.request_reset(session, card_number=body.card_number, client_ip=ip)
    return PasswordResetAccepted()


@router.post(
    "/password-resets/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        422: {"description": "Wrong card number or code, expired code, or a password that is not allowed"},
        429: {"description": "Too many wrong codes"},
    },
)
def confirm_password_reset(body: PasswordResetConfirm, session: SessionDep, ip: ClientIP) -> None:
    password_reset.confirm_reset(
        session, card_number=body.card_number, code=body.code, new_password=body.new_password, client_ip=ip
    )
