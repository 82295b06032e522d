"""Demo mode only: read back the SMS messages that would have gone to the card's phone. And the delivery
report webhooks of the SMS providers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from roamcard.config import get_settings
from roamcard.deps import CurrentCard, ReadSessionDep, SessionDep
from roamcard.errors import NotFound
from roamcard.notification import repository, webhooks
from roamcard.notification.service import readable_text
from roamcard.responses import OrjsonResponse

router = APIRouter(prefix="/api/v1/demo", tags=["demo"])
webhook_router = APIRouter(prefix="/webhooks", tags=["webhooks"])


async def _raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    phone: str
    body: str
    parts: int
    status: str
    provider: str | None
    error_code: str | None
    created_at: datetime
    sent_at: datetime | None


@router.get("/messages", response_model=list[MessageOut])
def list_messages(card: CurrentCard, session: ReadSessionDep) -> list[MessageOut]:
    if not get_settings().demo_enabled:
        raise NotFound()
    return [
        MessageOut.model_validate(n).model_copy(update={"body": readable_text(n)})
        for n in repository.list_for_card(session, card.id)
    ]


@webhook_router.post(
    "/twilio/sms-status",
    status_code=204,
    response_class=Response,
    responses={403: {"description": "X-Twilio-Signature does not verify"}},
)
def twilio_sms_status(
    raw_body: RawBody,
    request: Request,
    session: SessionDep,
    x_twilio_signature: Annotated[str | None, Header(alias="X-Twilio-Signature")] = None,
) -> Response:
    """Twilio's message status callback (form-encoded, signed over our public URL and the form)."""
    query = request.url.query
    url = get_settings().public_base_url + request.url.path + (f"?{query}" if query else "")
    webhooks.accept_twilio_status(session, url, raw_body, x_twilio_signature)
    return Response(status_code=204)


@webhook_router.post("/aliyun-sms", responses={400: {"description": "Not a JSON report batch"}})
def aliyun_sms_report(raw_body: RawBody, session: SessionDep) -> OrjsonResponse:
    """Alibaba Cloud SmsReport pushes (unsigned): hints that make the report job ask sooner."""
    webhooks.accept_aliyun_reports(session, raw_body)
    return OrjsonResponse({"code": 0, "msg": "接收成功"})
