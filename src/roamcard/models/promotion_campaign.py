from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, UTCDateTime


class PromotionCampaign(Base):
    """A holiday offer as loaded from the operator's campaign file (`roamcard promotions load`).

    The file owns the definition (every column but the `office_*` ones, rewritten on each reload); the
    back office owns `office_status`, which a reload never touches. A campaign is live only when both
    `file_status` and `office_status` are `active` and the clock is inside `[starts_at, ends_at)`.
    `benefit` is the file's benefit table as loaded (kind and its fields); orders snapshot what was
    applied, so a reload never rewrites what past orders recorded.
    """

    __tablename__ = "promotion_campaigns"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    benefit: Mapped[dict[str, Any]] = mapped_column(JSON)
    # None = no restriction on that dimension.
    products: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    product_kinds: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    channels: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    payment_methods: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    currencies: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    first_recharge_only: Mapped[bool] = mapped_column(Boolean, default=False)
    min_price: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # The shared code, upper-cased (matched case-insensitively); None = code-free.
    code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Redeemed by single-use codes (models/promotion_code.py) instead of, or besides, the shared code.
    single_use_codes: Mapped[bool] = mapped_column(Boolean, default=False)
    max_redemptions: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_per_card: Mapped[int | None] = mapped_column(Integer, nullable=True)
    budget: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    stackable: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    file_status: Mapped[str] = mapped_column(String(16))
    office_status: Mapped[str] = mapped_column(String(16))
    office_status_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    office_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
