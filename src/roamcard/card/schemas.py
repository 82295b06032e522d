from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from roamcard.card.numbers import LoginPassword
from roamcard.card.service import CardOverview
from roamcard.kit.schemas import MoneyOut, Schema


class AllowanceOut(Schema):
    kind: str
    remaining: int
    total: int
    expires_at: datetime
    product_id: str | None


class NetworkOut(Schema):
    """The last visited network a charging request named for the card."""

    mcc: str
    mnc: str
    country: str | None = Field(description="ISO 3166-1 alpha-2; null for an MCC Roamcard does not know")
    operator: str | None = Field(description="The operator's brand; null for an MNC Roamcard does not know")
    seen_at: datetime


class CardOut(Schema):
    card_number: str
    status: str
    phone: str
    # The card's own local number (its eSIM profile's MSISDN, E.164); null for a data-only profile.
    msisdn: str | None = None
    language: str
    balance: MoneyOut
    allowances: list[AllowanceOut]
    # The last network the card was seen on (null until a network reports it).
    network: NetworkOut | None = None

    @classmethod
    def of(cls, view: CardOverview) -> CardOut:
        return cls(
            card_number=view.card.card_number,
            status=view.card.status,
            phone=view.card.phone,
            msisdn=view.msisdn,
            language=view.card.language,
            balance=MoneyOut.of(view.balance),
            allowances=[AllowanceOut.model_validate(a) for a in view.allowances],
            network=NetworkOut.model_validate(view.network) if view.network is not None else None,
        )


class PhoneChangeCreate(BaseModel):
    """Rebind the card to another phone: the current service password, then a code sent to the new number."""

    model_config = ConfigDict(extra="forbid")
    phone: str = Field(max_length=32, description="The new number, E.164 (+8613800138000)")
    current_password: LoginPassword


class PhoneChangeConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(max_length=12, description="The 6-digit code sent to the new number")


class PhoneChangeOut(Schema):
    new_phone: str
    expires_at: datetime
    tries_left: int


class PhoneOut(Schema):
    phone: str


class PasswordResetCreate(Schema):
    card_number: str = Field(max_length=40)


class PasswordResetConfirm(Schema):
    card_number: str = Field(max_length=40)
    code: str = Field(max_length=12)
    new_password: str = Field(max_length=32)


class PasswordResetAccepted(Schema):
    # The same answer whether or not the card exists.
    status: str = "code_sent_if_the_card_exists"


class AlertPreferencesBody(Schema):
    """The optional alerts, each on (true) or off; emergency messages are never optional."""

    pack_usage: bool = Field(description="SMS at 80 % and 100 % of a pack used")
    low_balance: bool = Field(description="SMS when the balance falls below the currency's threshold")
    pack_expiry: bool = Field(description="SMS 3 days and 1 day before a pack with something left expires")
    new_country: bool = Field(description="The welcome SMS on the first network in a new country")


class CardCloseRequest(BaseModel):
    """Close the card for good: the service password and an explicit confirmation."""

    model_config = ConfigDict(extra="forbid")
    current_password: LoginPassword
    confirm: bool = Field(description="Must be true: closing is final")


class RefundOut(Schema):
    refund_id: str
    amount: MoneyOut


class CardClosedOut(Schema):
    status: str
    refunds: list[RefundOut]
    breakage: list[MoneyOut]
    packs_expired: int
