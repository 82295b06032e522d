from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class PromotionBudgetShard(Base):
    """One of a campaign's `SHARDS` budget counters per currency (promotion/service/budgets.py): each
    holds at most its share of the budget, so parallel orders update different rows, not one hot one."""

    __tablename__ = "promotion_budget_shards"

    campaign_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True)
    used: Mapped[int] = mapped_column(BigInteger)
    last_taken: Mapped[int] = mapped_column(BigInteger)  # what the last update took (read back by it)


class PromotionBudgetHold(Base):
    """What an order took from one shard; given back (and deleted) once the order expired or failed."""

    __tablename__ = "promotion_budget_holds"
    __table_args__ = (Index("ix_promotion_budget_holds_campaign", "campaign_id", "currency"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    shard: Mapped[int] = mapped_column(Integer)
    order_id: Mapped[str] = mapped_column(String(32), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
