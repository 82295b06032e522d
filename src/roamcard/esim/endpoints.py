"""The SM-DP+'s ES2+ notifications (POST /webhooks/smdp)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response

from roamcard.deps import SessionDep
from roamcard.esim.service import events

webhook_router = APIRouter(prefix="/webhooks", tags=["webhooks"])


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
