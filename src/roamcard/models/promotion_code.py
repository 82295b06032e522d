from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, UTCDateTime


class PromotionCode(Base):
    """A single-use promo code of a campaign, stored only as its keyed hash (keys.py purpose
    `promo-code`, "<key id>:<hex>"): the plain codes exist only in the CSV `roamcard promotions codes`
    wrote.

    `order_id` is the order holding the code: set by a conditional update when the order is created, so
    one order has it; once that order has expired or failed the code is free again (the next order's
    update takes it over), and once it is paid the code stays used.
    """

    __tablename__ = "promotion_codes"

    code_hash: Mapped[str] = mapped_column(String(80), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(64), index=True)
    order_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reserved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
