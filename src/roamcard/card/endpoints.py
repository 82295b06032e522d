from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from roamcard.card import service, settings
from roamcard.card.schemas import CardOut, PhoneChangeConfirm, PhoneChangeCreate, PhoneChangeOut, PhoneOut
from roamcard.db import get_database
from roamcard.deps import ActiveCard, ActiveCardForUpdate, CurrentCard, ReadSessionDep, SessionDep

router = APIRouter(prefix="/api/v1", tags=["card"])

PHONE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not signed in"},
    403: {"description": "The card is suspended (card_suspended)"},
    422: {"description": "Invalid number, wrong current password or wrong code (field errors)"},
    429: {"description": "Too many wrong passwords or codes requested; see Retry-After"},
}


@router.get("/card", response_model=CardOut, responses={401: {"description": "Not signed in"}})
def get_card(card: CurrentCard, session: ReadSessionDep) -> CardOut:
    return CardOut.of(service.overview(session, card))


@router.post(
    "/card/phone", status_code=status.HTTP_202_ACCEPTED, response_model=PhoneChangeOut, responses=PHONE_ERRORS
)
def start_phone_change(body: PhoneChangeCreate, card: ActiveCard) -> PhoneChangeOut:
    """Send a code to the new number, once the current service password is proven."""
    change = settings.start_phone_change(
        get_database(), card, new_phone=body.phone, current_password=body.current_password
    )
    return PhoneChangeOut(
        new_phone=change.new_phone, expires_at=change.expires_at, tries_left=settings.CODE_MAX_ATTEMPTS
    )


@router.post("/card/phone/confirm", response_model=PhoneOut, responses=PHONE_ERRORS)
def confirm_phone_change(
    body: PhoneChangeConfirm, card: ActiveCardForUpdate, session: SessionDep
) -> PhoneOut:
    """Bind the new number when the code matches; the old number is told."""
    return PhoneOut(phone=settings.confirm_phone_change(session, card, code=body.code))
