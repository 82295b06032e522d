"""The charging API for the network (Nchf_ConvergedCharging shape, TS 32.291; docs/api.md).

Each request is one lean transaction in one thread hop: the network element's bearer key, then the
session's work (charging/service/sessions.py)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, status
from fastapi.responses import Response

from roamcard.auth import service as auth
from roamcard.charging.schemas import ChargingDataRequest, ChargingDataResponse, UsageOut
from roamcard.charging.service import network_elements, sessions, usage
from roamcard.db import get_database
from roamcard.deps import BearerToken
from roamcard.kit import clock
from roamcard.responses import OrjsonResponse

PREFIX = "/nchf-convergedcharging/v3"
router = APIRouter(prefix=PREFIX, tags=["charging"])
usage_router = APIRouter(prefix="/api/v1/card", tags=["card"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, unknown or revoked network element key (network_element_unauthorized)"},
    404: {"description": "USER_UNKNOWN at create (no session opened); CHARGING_DATA_NOT_FOUND otherwise"},
}
Authorization = Annotated[str | None, Header()]


def _respond(answer: sessions.Answer) -> Response:
    if answer.status_code == status.HTTP_204_NO_CONTENT:
        return Response(status_code=204)
    headers = {"Location": f"{PREFIX}/chargingdata/{answer.ref}"} if answer.status_code == 201 else {}
    return OrjsonResponse(answer.body, status_code=answer.status_code, headers=headers)


@router.post(
    "/chargingdata",
    status_code=status.HTTP_201_CREATED,
    response_model=ChargingDataResponse,
    responses=ERRORS,
)
async def create(body: ChargingDataRequest, authorization: Authorization = None) -> Response:
    database = get_database()

    def unit() -> sessions.Answer:
        with database.tx() as tx:
            element_id = network_elements.authenticate(tx, authorization)
            return sessions.create(tx, element_id, body)

    return _respond(await database.run(unit))


@router.post("/chargingdata/{ref}/update", response_model=ChargingDataResponse, responses=ERRORS)
async def update(ref: str, body: ChargingDataRequest, authorization: Authorization = None) -> Response:
    database = get_database()

    def unit() -> sessions.Answer:
        with database.tx() as tx:
            element_id = network_elements.authenticate(tx, authorization)
            return sessions.update(tx, element_id, ref, body)

    return _respond(await database.run(unit))


@router.post(
    "/chargingdata/{ref}/release",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=ERRORS,
)
async def release(ref: str, body: ChargingDataRequest, authorization: Authorization = None) -> Response:
    database = get_database()

    def unit() -> sessions.Answer:
        with database.tx() as tx:
            element_id = network_elements.authenticate(tx, authorization)
            return sessions.release(tx, element_id, ref, body)

    return _respond(await database.run(unit))


@usage_router.get(
    "/usage",
    response_model=UsageOut,
    responses={
        401: {"description": "Not signed in"},
        422: {"description": "to before from, or over 92 days"},
    },
)
async def card_usage(
    token: BearerToken,
    first: Annotated[
        date | None, Query(alias="from", description="First UTC day; default 29 days ago")
    ] = None,
    last: Annotated[
        date | None, Query(alias="to", description="Last UTC day, included; default today")
    ] = None,
) -> Response:
    """What the card used per UTC day and kind (data bytes, voice seconds, SMS) and what paid for it."""
    database = get_database()
    today = clock.now().date()

    def unit() -> dict[str, Any]:
        with database.autocommit() as tx:
            card = auth.signed_in_card(tx, token)  # any status: a suspended card may still look
            end = last or today
            return usage.card_usage(tx, card.id, first or end - timedelta(days=29), end)

    return OrjsonResponse(await database.run(unit))
