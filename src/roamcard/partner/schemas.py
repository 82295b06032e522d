from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from roamcard.card.numbers import CardNumber
from roamcard.kit.money import SUPPORTED_CURRENCIES, Money
from roamcard.kit.schemas import MoneyOut
from roamcard.models import Product
from roamcard.reseller.floats import commission_of
from roamcard.reseller.schemas import external_id

ExternalId = Annotated[
    str,
    external_id(
        "The partner's own reference for this top-up, unique per partner: the idempotency key.",
        "mp-20261202-000123",
    ),
]
ProductId = Annotated[str, Field(min_length=1, max_length=64, examples=["balance-10"])]
Currency = Annotated[str, Field(pattern="^(" + "|".join(SUPPORTED_CURRENCIES) + ")$", examples=["USD"])]
Amount = Annotated[
    int | None,
    Field(strict=True, gt=0, description="Custom-amount products only: wallet credit in minor units."),
]


class PartnerValidation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    card_number: CardNumber
    product_id: ProductId
    currency: Currency
    amount: Amount = None


class PartnerTopupCreate(PartnerValidation):
    external_id: ExternalId


class QuoteOut(BaseModel):
    product_id: str
    price: MoneyOut = Field(description="What the user pays (promotions for the partner channel included).")
    list_price: MoneyOut | None = Field(description="The catalogue price, when a promotion lowered it.")
    partner_cost: MoneyOut = Field(description="What leaves the partner's float: price less commission.")
    commission: MoneyOut
    grants: list[dict[str, Any]]


class PartnerTopupOut(BaseModel):
    """Also the body of a callback (signed like a request)."""

    id: str
    external_id: str
    status: str = Field(description="processing, fulfilled or failed.")
    card_number: str
    product_id: str
    price: MoneyOut
    partner_cost: MoneyOut
    commission: MoneyOut
    created_at: datetime
    fulfilled_at: datetime | None


class CustomAmountOut(BaseModel):
    minimum: int
    maximum: int
    unit_price: int = Field(description="Price of 100 minor units of credit.")


class PartnerProductOut(BaseModel):
    id: str
    kind: str
    name_en: str
    name_zh: str
    grants: list[dict[str, Any]]
    validity_days: int | None
    price: MoneyOut | None = Field(description="Catalogue price (None for custom-amount products).")
    partner_cost: MoneyOut | None
    commission: MoneyOut | None
    commission_bps: int
    custom_amount: CustomAmountOut | None

    @classmethod
    def of(cls, product: Product, currency: str, commission_bps: int) -> PartnerProductOut:
        custom = product.custom_min is not None and product.custom_max is not None
        price = cost = commission = None
        if not custom:
            listed = Money(product.prices[currency], currency)
            paid = commission_of(listed, commission_bps)
            price, cost, commission = MoneyOut.of(listed), MoneyOut.of(listed - paid), MoneyOut.of(paid)
        return cls(
            id=product.id,
            kind=product.kind,
            name_en=product.name_en,
            name_zh=product.name_zh,
            grants=list(product.grants),
            validity_days=product.validity_days,
            price=price,
            partner_cost=cost,
            commission=commission,
            commission_bps=commission_bps,
            custom_amount=CustomAmountOut(
                minimum=product.custom_min or 0,
                maximum=product.custom_max or 0,
                unit_price=product.unit_prices[currency],
            )
            if custom
            else None,
        )


class StatementLineOut(BaseModel):
    id: str
    external_id: str
    status: str
    product_id: str
    price: MoneyOut
    partner_cost: MoneyOut
    commission: MoneyOut
    at: datetime


class FloatMovementOut(BaseModel):
    kind: str = Field(description="credit: money received onto the float.")
    amount: MoneyOut
    reference: str | None
    at: datetime


class StatementTotalsOut(BaseModel):
    count: int
    price: MoneyOut
    partner_cost: MoneyOut
    commission: MoneyOut


class PartnerStatementOut(BaseModel):
    partner_id: str
    date: date
    timezone: str
    starts_at: datetime
    ends_at: datetime
    currency: str
    opening_balance: MoneyOut
    credits: MoneyOut = Field(description="Float top-ups received that day (ledger).")
    debits: MoneyOut = Field(description="Left the float that day (ledger): the top-ups' partner cost.")
    closing_balance: MoneyOut
    credit_limit: MoneyOut
    totals: StatementTotalsOut
    lines: list[StatementLineOut]
    float_movements: list[FloatMovementOut] = Field(description="Credits to the float that day.")
