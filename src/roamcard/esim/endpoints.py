"""The card's eSIM (GET /api/v1/card/esim and its QR images) and the SM-DP+'s ES2+ notifications."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response

from roamcard.deps import CurrentCard, ReadSessionDep, SessionDep
from roamcard.esim.schemas import EsimOut
from roamcard.esim.service import events, install

router = APIRouter(prefix="/api/v1", tags=["card"])
webhook_router = APIRouter(prefix="/webhooks", tags=["webhooks"])

# The activation code is the key to the card's line: no shared cache keeps it, no browser stores it.
PRIVATE = {"Cache-Control": "private, no-store", "Pragma": "no-cache"}
ESIM_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not signed in"},
    404: {"description": "The card has no eSIM profile (esim_not_issued)"},
}


@router.get("/card/esim", response_model=EsimOut, responses=ESIM_ERRORS)
def get_esim(card: CurrentCard, session: ReadSessionDep, response: Response) -> EsimOut:
    """The card's eSIM profile: its status, activation code (without `LPA:`), QR images and iOS link."""
    response.headers.update(PRIVATE)
    return EsimOut.of(install.view_for_card(session, card.id))


@router.get("/card/esim/qr.svg", response_class=Response, responses=ESIM_ERRORS)
def get_esim_qr_svg(card: CurrentCard, session: ReadSessionDep) -> Response:
    """The QR code (SVG) holding exactly `LPA:` + the activation code."""
    code = install.view_for_card(session, card.id).code
    return Response(install.qr_svg(code), media_type="image/svg+xml", headers=PRIVATE)


@router.get("/card/esim/qr.png", response_class=Response, responses=ESIM_ERRORS)
def get_esim_qr_png(card: CurrentCard, session: ReadSessionDep) -> Response:
    """The QR code (PNG) holding exactly `LPA:` + the activation code."""
    code = install.view_for_card(session, card.id).code
    return Response(install.qr_png(code), media_type="image/png", headers=PRIVATE)


async def _raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]


@webhook_router.post(
    "/smdp",
    status_code=204,
    response_class=Response,
    responses={
        400: {"description": "Not a HandleDownloadProgressInfo notification"},
        401: {"description": "Missing or wrong Authorization: Bearer <ROAMCARD_SMDP_NOTIFY_TOKEN>"},
    },
)
def smdp_notification(
    raw_body: RawBody,
    session: SessionDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    """ES2+ HandleDownloadProgressInfo as JSON: stored in the inbox once, applied in timestamp order."""
    events.accept(session, raw_body, authorization)
    return Response(status_code=204)
