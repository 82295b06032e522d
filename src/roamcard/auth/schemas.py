from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from roamcard.card.numbers import CardNumber, LoginPassword


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    card_number: CardNumber
    password: LoginPassword


class SessionOut(BaseModel):
    token: str
    expires_at: datetime
