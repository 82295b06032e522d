from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class PromotionSlot(Base):
    """One of a campaign's capped redemptions, reserved by an order when it is created.

    A cap of N is N slots per scope (`all` for `max_redemptions`, `card:<id>` for `max_per_card`); the
    unique key makes a slot one order's, so the cap holds exactly under any concurrency, and orders race
    for random slots instead of one counter row. A slot whose order expired or failed is free again (the
    next claimant deletes it by its order id), so nothing has to release it.
    """

    __tablename__ = "promotion_slots"
    __table_args__ = (UniqueConstraint("campaign_id", "scope", "slot"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(32))
    slot: Mapped[int] = mapped_column(Integer)
    order_id: Mapped[str] = mapped_column(String(32), index=True)
    card_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
