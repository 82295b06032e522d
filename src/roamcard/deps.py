"""Annotated dependencies that keep endpoint signatures short.

A sync dependency runs in the threadpool (one hop each); those that do no I/O are async. `CurrentCard`,
`ActiveCard` and `ActiveCardForUpdate` load the ORM card for the sync endpoints; a lean (async) endpoint
takes `BearerToken` and reads the card in its own unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from roamcard.auth import service as auth_service
from roamcard.db import get_database
from roamcard.errors import AppError, Unauthorized
from roamcard.models import Card


def _write_session() -> Iterator[Session]:
    """The request is the unit of work: commit when the handler returns, before the response is sent."""
    session = get_database().session()
    try:
        yield session
        session.commit()
    except AppError as error:
        if error.keeps_changes:
            session.commit()
        else:
            session.rollback()
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _read_session() -> Iterator[Session]:
    database = get_database()
    session = database.read_session()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(_write_session, scope="function")]
ReadSessionDep = Annotated[Session, Depends(_read_session, scope="function")]


async def bearer_token(authorization: Annotated[str | None, Header()] = None) -> str:
    """Only reads the header (async: no thread hop). A lean endpoint checks the token itself, with
    `auth.service.signed_in_card(tx, token)` as the first statement of its unit of work."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized()
    return authorization[7:].strip()


BearerToken = Annotated[str, Depends(bearer_token)]
TokenDep = BearerToken  # the name the ORM endpoints use


def _current_card(session: ReadSessionDep, token: TokenDep) -> Card:
    return auth_service.card_for_token(session, token)


# The signed-in card, whatever its status. Only for reading the card and for emergency help (SOS,
# emergency contacts and numbers), which a suspension must never cut off.
CurrentCard = Annotated[Card, Depends(_current_card)]


async def _active_card(card: CurrentCard) -> Card:
    return auth_service.require_active(card)


# The signed-in card, refused with 403 `card_suspended` unless it is active: settings, top-ups, refunds,
# anything that changes the card or moves money. Emergency routes must use `CurrentCard` instead.
ActiveCard = Annotated[Card, Depends(_active_card)]


async def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


ClientIP = Annotated[str, Depends(client_ip)]


def _active_card_for_update(session: SessionDep, token: TokenDep) -> Card:
    return auth_service.require_active(auth_service.card_for_token(session, token))


# `ActiveCard`, loaded in the request's write session (for handlers that change the card in it).
ActiveCardForUpdate = Annotated[Card, Depends(_active_card_for_update)]
