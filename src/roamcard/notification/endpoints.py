"""Demo mode only: read back the SMS messages that would have gone to the card's phone."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from roamcard.config import get_settings
from roamcard.deps import CurrentCard, ReadSessionDep
from roamcard.errors import NotFound
from roamcard.notification import repository
from roamcard.notification.service import readable_text

router = APIRouter(prefix="/api/v1/demo", tags=["demo"])


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
    if not get_settings().demo_mode:
        raise NotFound()
    return [
        MessageOut.model_validate(n).model_copy(update={"body": readable_text(n)})
        for n in repository.list_for_card(session, card.id)
    ]
