from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class CardNetwork(Base):
    """The last visited network a charging request named for the card: one row per card, moved forward only
    (`network.service.seen`). A row of its own, not columns on `cards`, so the charging hot path never locks
    the card row for it."""

    __tablename__ = "card_networks"

    card_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("cards.id"), primary_key=True)
    mcc: Mapped[str] = mapped_column(String(3))
    mnc: Mapped[str] = mapped_column(String(3))
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    operator: Mapped[str | None] = mapped_column(String(64), nullable=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
