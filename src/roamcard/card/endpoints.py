from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, status

from roamcard.card import closure, password_reset, service, settings
from roamcard.card.schemas import (
    AlertPreferencesBody,
    CardClosedOut,
    CardCloseRequest,
    CardOut,
    PasswordResetAccepted,
    PasswordResetConfirm,
    PasswordResetCreate,
    PhoneChangeConfirm,
    PhoneChangeCreate,
    PhoneChangeOut,
    PhoneOut,
    RefundOut,
)
from roamcard.db import Database, get_database
from roamcard.deps import (
    ActiveCard,
    ActiveCardForUpdate,
    BearerToken,
    ClientIP,
    CurrentCard,
    ReadSessionDep,
    SessionDep,
)
from roamcard.errors import ValidationFailed
from roamcard.kit.schemas import MoneyOut

router = APIRouter(prefix="/api/v1", tags=["card"])

PHONE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not signed in"},
    403: {"description": "The card is suspended (card_suspended)"},
    422: {"description": "Invalid number, wrong current password or wrong code (field errors)"},
    429: {"description": "Too many wrong passwords or codes requested; see Retry-After"},
}


@router.get("/card", response_model=CardOut, responses={401: {"description": "Not signed in"}})
async def get_card(token: BearerToken) -> CardOut:
    database = get_database()
    return CardOut.of(await database.run(partial(_card_view, database, token)))


def _card_view(database: Database, token: str) -> service.CardOverview:
    with database.autocommit() as tx:  # one read statement: no BEGIN and COMMIT
        return service.card_view(tx, token)


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


@router.get(
    "/card/alerts", response_model=AlertPreferencesBody, responses={401: {"description": "Not signed in"}}
)
def get_alert_preferences(card: CurrentCard, session: ReadSessionDep) -> AlertPreferencesBody:
    """Which optional alerts the card holder gets."""
    return AlertPreferencesBody.model_validate(settings.alert_preferences(session, card.id))


@router.put(
    "/card/alerts",
    response_model=AlertPreferencesBody,
    responses={401: {"description": "Not signed in"}, 403: {"description": "The card is suspended"}},
)
def put_alert_preferences(
    body: AlertPreferencesBody, card: ActiveCardForUpdate, session: SessionDep
) -> AlertPreferencesBody:
    """Switch the optional alerts on or off (all four fields); an alert switched off is not sent."""
    chosen = settings.AlertPreferences(**body.model_dump())
    return AlertPreferencesBody.model_validate(settings.set_alert_preferences(session, card.id, chosen))


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


@router.post(
    "/card/close",
    response_model=CardClosedOut,
    responses={
        401: {"description": "Not signed in"},
        403: {"description": "The card is suspended (card_suspended)"},
        409: {"description": "The card cannot be closed now (card_not_closable)"},
        422: {"description": "Wrong current password, or `confirm` not true"},
        429: {"description": "Too many wrong passwords; see Retry-After"},
    },
)
def close_card(body: CardCloseRequest, card: ActiveCard, ip: ClientIP) -> CardClosedOut:
    """Close the card: the refundable part of each recharge goes back to its payment (refund policy), the
    rest of the balance and the packs are forfeited, the card's number is quarantined. Final."""
    if not body.confirm:
        raise ValidationFailed("confirm", "Tick the box to confirm that you want to close the card.")
    database = get_database()
    settings.check_current_password(database, card, body.current_password)
    closed = closure.close_card_by_id(database, card.id, client_ip=ip)
    return CardClosedOut(
        status="closed",
        refunds=[RefundOut(refund_id=rid, amount=MoneyOut.of(money)) for rid, money in closed.refunds],
        breakage=[MoneyOut.of(money) for money in closed.breakage],
        packs_expired=closed.packs_expired,
    )
