from __future__ import annotations

from functools import partial

from fastapi import APIRouter, status

from roamcard.auth import service
from roamcard.auth.schemas import SessionCreate, SessionOut
from roamcard.db import get_database
from roamcard.deps import ClientIP, SessionDep, TokenDep

router = APIRouter(prefix="/api/v1", tags=["sessions"])


@router.post(
    "/sessions",
    status_code=status.HTTP_201_CREATED,
    response_model=SessionOut,
    responses={
        401: {"description": "Wrong card number or password"},
        403: {"description": "Right password, but the card is suspended (card_suspended)"},
        429: {"description": "Locked out"},
    },
)
async def create_session(body: SessionCreate, ip: ClientIP) -> SessionOut:
    database = get_database()
    # One thread hop for the whole sign-in: its two short transactions and argon2 between them.
    issued = await database.run(
        partial(service.login, database, card_number=body.card_number, password=body.password, client_ip=ip)
    )
    return SessionOut(token=issued.token, expires_at=issued.expires_at)


@router.delete("/sessions/current", status_code=status.HTTP_204_NO_CONTENT)
def delete_session(session: SessionDep, token: TokenDep) -> None:
    service.logout(session, token)
