"""The campaign file (TOML) as the operator writes it; `service/load.py` turns its errors into messages
that name the campaign and the field."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from roamcard.catalog.states import ProductKind
from roamcard.kit.money import SUPPORTED_CURRENCIES
from roamcard.kit.schemas import MoneyOut
from roamcard.ledger.assets import UNIT_ASSETS
from roamcard.promotion.states import CampaignStatus
from roamcard.topup.states import Channel

CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


def _amounts(value: dict[str, int], *, allow_empty: bool = True) -> dict[str, int]:
    if not value and not allow_empty:
        raise ValueError("give an amount in at least one currency, e.g. { CNY = 1400 }")
    for currency, amount in value.items():
        if currency not in SUPPORTED_CURRENCIES:
            raise ValueError(f"unsupported currency {currency} (one of {', '.join(SUPPORTED_CURRENCIES)})")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValueError(f"the amount for {currency} must be a positive whole number of minor units")
    return value


class _Benefit(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PercentOff(_Benefit):
    kind: Literal["percent_off"]
    percent: int = Field(ge=1, le=100)


class AmountOff(_Benefit):
    kind: Literal["amount_off"]
    amounts: dict[str, int]

    @field_validator("amounts")
    @classmethod
    def _currencies(cls, value: dict[str, int]) -> dict[str, int]:
        return _amounts(value, allow_empty=False)


class BonusBalance(_Benefit):
    """Credited to the wallet in the card's currency; its amount in the order's currency is its worth."""

    kind: Literal["bonus_balance"]
    amounts: dict[str, int]

    @field_validator("amounts")
    @classmethod
    def _currencies(cls, value: dict[str, int]) -> dict[str, int]:
        return _amounts(value, allow_empty=False)


class BonusPack(_Benefit):
    kind: Literal["bonus_pack"]
    asset: str
    amount: int = Field(gt=0)
    validity_days: int = Field(gt=0, le=3650)
    value: dict[str, int]
    coverage: list[CountryCode] | None = None

    @field_validator("asset")
    @classmethod
    def _unit_asset(cls, value: str) -> str:
        if value not in UNIT_ASSETS:
            raise ValueError(f"unknown asset {value!r} (one of {', '.join(sorted(UNIT_ASSETS))})")
        return value

    @field_validator("value")
    @classmethod
    def _currencies(cls, value: dict[str, int]) -> dict[str, int]:
        return _amounts(value, allow_empty=False)


Benefit = Annotated[PercentOff | AmountOff | BonusBalance | BonusPack, Field(discriminator="kind")]


class CampaignDefinition(BaseModel):
    """One `[[campaigns]]` table of the file."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    starts_at: datetime
    ends_at: datetime
    benefit: Benefit
    products: list[str] | None = None
    product_kinds: list[ProductKind] | None = None
    channels: list[Channel] | None = None
    payment_methods: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,19}$")]] | None = None
    currencies: list[str] | None = None
    first_recharge_only: bool = False
    min_price: dict[str, int] = Field(default_factory=dict)
    code: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{4,64}$")
    single_use_codes: bool = False  # codes made by `roamcard promotions codes`, each redeemable once
    max_redemptions: int | None = Field(default=None, gt=0)
    max_per_card: int | None = Field(default=None, gt=0)
    budget: dict[str, int] = Field(default_factory=dict)
    stackable: bool = False
    priority: int = 0
    status: CampaignStatus = CampaignStatus.ACTIVE

    @field_validator("starts_at", "ends_at", mode="before")
    @classmethod
    def _explicit_offset(cls, value: object) -> object:
        text = value.isoformat() if isinstance(value, datetime) else value
        if isinstance(text, str):
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                raise ValueError("not a date and time, e.g. 2027-01-20T00:00:00+08:00") from None
            if parsed.tzinfo is None:
                raise ValueError("needs an explicit UTC offset, e.g. 2027-01-20T00:00:00+08:00")
            return parsed
        return value

    @field_validator("currencies")
    @classmethod
    def _known_currencies(cls, value: list[str] | None) -> list[str] | None:
        for currency in value or []:
            if currency not in SUPPORTED_CURRENCIES:
                raise ValueError(f"unsupported currency {currency}")
        return value

    @field_validator("min_price", "budget")
    @classmethod
    def _amounts(cls, value: dict[str, int]) -> dict[str, int]:
        return _amounts(value)

    @model_validator(mode="after")
    def _consistent(self) -> CampaignDefinition:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at: the window ends before it starts")
        if self.products is not None and self.product_kinds is not None:
            raise ValueError("products: give products or product_kinds, not both")
        return self


class CampaignFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    campaigns: list[dict[str, object]] = Field(default_factory=list)


class DiscountOut(BaseModel):
    campaign_id: str
    name: str
    amount: MoneyOut


class BonusOut(BaseModel):
    campaign_id: str
    name: str
    asset: str
    amount: int
    validity_days: int | None = None


def breakdown(record: list[dict[str, Any]] | None, language: str) -> tuple[list[DiscountOut], list[BonusOut]]:
    """An order's recorded promotions as the API shows them, names in the reader's language."""
    discounts: list[DiscountOut] = []
    bonuses: list[BonusOut] = []
    for item in record or []:
        name = item["name_zh"] if language == "zh-CN" else item["name_en"]
        if item["kind"] == "discount":
            discounts.append(
                DiscountOut(
                    campaign_id=item["campaign_id"],
                    name=name,
                    amount=MoneyOut(amount=item["amount"], currency=item["currency"]),
                )
            )
        else:
            bonuses.append(
                BonusOut(
                    campaign_id=item["campaign_id"],
                    name=name,
                    asset=item["asset"],
                    amount=item["amount"],
                    validity_days=item.get("validity_days"),
                )
            )
    return discounts, bonuses
