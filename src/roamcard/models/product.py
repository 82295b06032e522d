from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, UTCDateTime


class Product(Base):
    """A catalogue entry. `grants` lists what fulfilment credits; `prices` maps currency -> minor units.

    A custom-amount product (`custom_min`/`custom_max` set) has no fixed grant: the buyer names the wallet
    amount and `unit_prices` maps currency -> price in minor units per 100 minor units of wallet credit.
    """

    __tablename__ = "products"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name_en: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200))
    grants: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    prices: Mapped[dict[str, int]] = mapped_column(JSON)
    custom_min: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    custom_max: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    unit_prices: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    validity_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # How far each recharge of this product extends the card's validity (保号); NULL: the setting's default.
    validity_days_per_recharge: Mapped[int | None] = mapped_column(Integer, nullable=True)
    coverage: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
