from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from roamcard.catalog.states import ProductKind
from roamcard.kit.money import SUPPORTED_CURRENCIES
from roamcard.kit.schemas import MoneyOut
from roamcard.ledger.assets import CURRENCY_ASSETS, Asset

CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


class Grant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    asset: Asset
    amount: int = Field(gt=0)


class CatalogProduct(BaseModel):
    """One product as written in the operator's catalogue file (TOML)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")
    kind: ProductKind
    name_en: str = Field(min_length=1, max_length=200)
    name_zh: str = Field(min_length=1, max_length=200)
    grants: list[Grant] = Field(default_factory=list)
    prices: dict[str, int] = Field(default_factory=dict)
    custom_min: int | None = Field(default=None, gt=0)
    custom_max: int | None = Field(default=None, gt=0)
    unit_prices: dict[str, int] = Field(default_factory=dict)
    validity_days: int | None = Field(default=None, gt=0, le=3650)
    # Days each recharge of it keeps the card alive (保号); unset: ROAMCARD_VALIDITY_DAYS_PER_RECHARGE.
    validity_days_per_recharge: int | None = Field(default=None, gt=0, le=3650)
    coverage: list[CountryCode] = Field(default_factory=list)
    sort_order: int = 0

    @field_validator("prices", "unit_prices")
    @classmethod
    def _known_currencies(cls, value: dict[str, int]) -> dict[str, int]:
        for currency, amount in value.items():
            if currency not in SUPPORTED_CURRENCIES:
                raise ValueError(f"unsupported currency {currency}")
            if amount <= 0:
                raise ValueError(f"price for {currency} must be positive")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CatalogProduct:
        custom = self.custom_min is not None or self.custom_max is not None
        if custom:
            if self.kind is not ProductKind.BALANCE:
                raise ValueError("only balance products take a custom amount")
            if self.custom_min is None or self.custom_max is None or self.custom_min > self.custom_max:
                raise ValueError("a custom amount needs custom_min <= custom_max")
            if not self.unit_prices or self.grants or self.prices:
                raise ValueError("a custom amount product has unit_prices and no grants or fixed prices")
            return self
        if not self.grants or not self.prices:
            raise ValueError("a fixed product needs grants and prices")
        currencies = [g for g in self.grants if g.asset in CURRENCY_ASSETS]
        units = [g for g in self.grants if g.asset not in CURRENCY_ASSETS]
        if self.kind is ProductKind.BALANCE and (units or len(currencies) != 1):
            raise ValueError("a balance product grants exactly one currency amount")
        if self.kind is ProductKind.DATA and [g.asset for g in self.grants] != [Asset.DATA_BYTES]:
            raise ValueError("a data pack grants DATA_BYTES only")
        if self.kind is ProductKind.VOICE and [g.asset for g in self.grants] != [Asset.VOICE_SECONDS]:
            raise ValueError("a voice pack grants VOICE_SECONDS only")
        if self.kind is ProductKind.BUNDLE and len(self.grants) < 2:
            raise ValueError("a bundle grants several things")
        if units and self.validity_days is None:
            raise ValueError("packs need validity_days")
        return self


class CatalogRatingGroup(BaseModel):
    """A network rating group and what it counts (`[[rating_groups]]`)."""

    model_config = ConfigDict(extra="forbid")
    rating_group: int = Field(ge=0)
    kind: Literal["data", "voice", "sms"]


class ZonePrice(BaseModel):
    """The balance's price in one currency, in minor units: per MiB (2^20 bytes) of data, per started
    minute of voice, per SMS."""

    model_config = ConfigDict(extra="forbid")
    data_per_mib: int = Field(ge=0)
    voice_per_minute: int = Field(ge=0)
    sms_each: int = Field(ge=0)


class CatalogZone(BaseModel):
    """A rating zone (`[[zones]]`): the countries it covers and its prices per currency."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    countries: list[CountryCode] = Field(min_length=1)
    prices: dict[str, ZonePrice]

    @field_validator("prices")
    @classmethod
    def _known_currencies(cls, value: dict[str, ZonePrice]) -> dict[str, ZonePrice]:
        for currency in value:
            if currency not in SUPPORTED_CURRENCIES:
                raise ValueError(f"unsupported currency {currency}")
        return value


class CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    products: list[CatalogProduct]
    rating_groups: list[CatalogRatingGroup] = Field(default_factory=list)
    zones: list[CatalogZone] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_zone_per_country(self) -> CatalogFile:
        seen: dict[str, str] = {}
        for zone in self.zones:
            for country in zone.countries:
                if country in seen:
                    raise ValueError(f"country {country} is in zones {seen[country]} and {zone.code}")
                seen[country] = zone.code
        groups = [g.rating_group for g in self.rating_groups]
        if len(groups) != len(set(groups)):
            raise ValueError("duplicate rating groups")
        return self

    @model_validator(mode="after")
    def _unique_ids(self) -> CatalogFile:
        ids = [p.id for p in self.products]
        duplicates = {i for i in ids if ids.count(i) > 1}
        if duplicates:
            raise ValueError(f"duplicate product ids: {sorted(duplicates)}")
        return self


class CustomAmountOut(BaseModel):
    min: int
    max: int
    currency: str


class ProductOut(BaseModel):
    id: str
    kind: ProductKind
    name: str
    name_en: str
    name_zh: str
    price: MoneyOut | None = Field(description="Price in the requested currency; null for a custom amount.")
    prices: dict[str, int]
    custom_amount: CustomAmountOut | None
    unit_prices: dict[str, int]
    grants: list[dict[str, Any]]
    validity_days: int | None
    coverage: list[str]
