from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from roamcard.kit.schemas import MoneyOut
from roamcard.topup.schemas import PaymentOut


class CardOrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: str = Field(min_length=1, max_length=64, description="A product of kind `starter`.")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    payment_method: str = Field(min_length=1, max_length=20)
    phone: str = Field(min_length=4, max_length=20, description="E.164: where the SMS go.")
    language: Literal["zh-CN", "en"]
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class CardOut(BaseModel):
    card_number: str = Field(description="The card's ICCID: what the traveller signs in with.")
    msisdn: str | None = Field(description="The card's own local phone number (E.164), if it has one.")
    install_url: str


class CardOrderOut(BaseModel):
    id: str
    status: str
    product_id: str
    price: MoneyOut
    created_at: datetime
    pay_by: datetime
    paid_at: datetime | None
    fulfilled_at: datetime | None
    payment: PaymentOut | None
    order_token: str | None = Field(
        default=None, description="Only in the create's answer: read the order back with it (Bearer)."
    )
    card: CardOut | None = Field(default=None, description="Once fulfilled.")
    password: str | None = Field(
        default=None, description="The new card's service password: in the first read after fulfilment only."
    )
