"""Gateway notifications: verify on the raw body, store in the inbox, answer fast."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from roamcard.deps import SessionDep
from roamcard.payment import service

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


async def _raw_body(request: Request) -> bytes:
    """The exact bytes received: signatures are checked on these, never on re-serialised JSON."""
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]


@router.post(
    "/sandbox",
    responses={
        400: {"description": "Bad signature or body"},
        404: {"description": "Unknown payment"},
        422: {"description": "Amount or currency mismatch"},
    },
)
def sandbox_notification(
    raw_body: RawBody,
    session: SessionDep,
    roamcard_signature: Annotated[str | None, Header(alias="Roamcard-Signature")] = None,
) -> JSONResponse:
    accepted = service.accept_sandbox_notification(session, raw_body, roamcard_signature)
    return JSONResponse({"received": True, "duplicate": not accepted})
